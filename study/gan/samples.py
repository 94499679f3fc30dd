"""Sample grids: a generator's images from fixed latents, tiled into one PNG.

The latents come from a study-wide seed (``TrialConfig.sample_seed``), never from the trial's
seed, so every trial of a study (same ``z_dim`` and ``z_dist``) draws its grid from the same
points and grids compare side by side. Images are mapped from the head's range to [0, 1] and
quantised as ``round(255 x)``; cell i of an n-image grid sits at row ``i // cols`` and column
``i % cols`` (``cols = ceil(sqrt(n))``), each cell ``PADDING`` pixels from its neighbours and
the border, which are white. A trial's grid smaller than ``READABLE_PX`` on its longer side is
scaled up by a whole factor (nearest neighbour: every pixel a k x k block, no new values) so that
it opens at a readable size; the factor is recorded in the PNG (text entry ``scale``), and
``read_grid`` gives the grid back at its own size.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
from torch import nn

PADDING = 2
READABLE_PX = 512  # a 64-image grid of 16 px images is 146 px: scaled by 4 to 584 px
SCALE_KEY = "scale"  # the PNG text entry that records the factor


def grid_latents(n: int, z_dim: int, z_dist: str, seed: int) -> torch.Tensor:
    """``n`` latents on the CPU from ``seed`` alone (the same on every device and every trial)."""
    gen = torch.Generator().manual_seed(seed)
    if z_dist == "normal":
        return torch.randn(n, z_dim, generator=gen)
    return torch.rand(n, z_dim, generator=gen) * 2.0 - 1.0


@torch.no_grad()
def grid_labels(n: int, classes: int) -> torch.Tensor:
    """The classes a conditional generator draws for ``n`` grid cells: cell i shows class
    i mod ``classes`` (a grid of ``classes`` columns shows one class per column)."""
    return torch.arange(n) % classes


def generate(generator: nn.Module, z: torch.Tensor, low: float, high: float, batch_size: int = 500,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images of ``z`` (in eval mode, on the generator's device) mapped to [0, 1], float32 on the CPU.
    A conditional generator (one with ``classes``) draws ``labels``, by default ``grid_labels``."""
    device = next(generator.parameters()).device
    classes = getattr(generator, "classes", None)
    if classes and labels is None:
        labels = grid_labels(len(z), classes)
    was_training = generator.training
    generator.eval()

    def run(i: int) -> torch.Tensor:
        zi = z[i:i + batch_size].to(device)
        return (generator(zi, labels[i:i + batch_size].to(device)) if classes else generator(zi)).float().cpu()

    try:
        out = torch.cat([run(i) for i in range(0, len(z), batch_size)])
    finally:
        generator.train(was_training)
    return ((out - low) / (high - low)).clamp(0.0, 1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, H, W, C) uint8, round(255 x)."""
    return (images.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grid_columns(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def cell_origin(i: int, n: int, height: int, width: int) -> tuple[int, int]:
    """(top, left) pixel of cell ``i`` in a grid of ``n`` cells of ``height`` x ``width``."""
    cols = grid_columns(n)
    return PADDING + (i // cols) * (height + PADDING), PADDING + (i % cols) * (width + PADDING)


def tile(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows (H + p) + p, cols (W + p) + p, C) uint8 image."""
    n, h, w, c = images.shape
    cols = grid_columns(n)
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + PADDING) + PADDING, cols * (w + PADDING) + PADDING, c), 255, np.uint8)
    for i in range(n):
        top, left = cell_origin(i, n, h, w)
        out[top:top + h, left:left + w] = images[i]
    return out


def readable_scale(height: int, width: int) -> int:
    """The whole factor that brings a grid's longer side to at least ``READABLE_PX`` (1 if it is already)."""
    return max(1, math.ceil(READABLE_PX / max(height, width, 1)))


def png_bytes(grid: np.ndarray, scale: int = 1) -> bytes:
    """A (H, W, 1 or 3) uint8 image as PNG (gray or RGB, lossless), each pixel a ``scale`` x
    ``scale`` block (nearest), the factor recorded as the text entry ``scale``."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid, mode="L" if grid.shape[-1] == 1 else "RGB")
    info = PngInfo()
    info.add_text(SCALE_KEY, str(scale))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def read_grid(path) -> np.ndarray:
    """A grid PNG's pixels at the grid's own size (one pixel of each recorded ``scale`` block)."""
    from PIL import Image

    with Image.open(path) as image:
        scale = int(image.text.get(SCALE_KEY, 1)) if hasattr(image, "text") else 1
        pixels = np.asarray(image)
    return pixels[::scale, ::scale]


def grid_png(generator: nn.Module, z: torch.Tensor, low: float, high: float) -> bytes:
    """The PNG grid of ``generator``'s images of ``z``, scaled up to a readable size."""
    grid = tile(to_uint8(generate(generator, z, low, high)))
    return png_bytes(grid, readable_scale(*grid.shape[:2]))
