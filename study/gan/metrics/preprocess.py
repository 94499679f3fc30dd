"""Image preprocessing for the Inception network, as the FID references do it.

Images in [0, 1] -> quantised to uint8 values by rounding (not truncation) -> resized to
299 x 299 bilinearly -> scaled to [-1, 1] (x / 127.5 - 1) -> grayscale tiled to 3 channels.

Resize modes (they move FID slightly; every row records which):
- ``tf_bilinear``: TensorFlow 1's ``resize_bilinear`` (align_corners=False, no half-pixel
  centres), which the original TF Inception graph applies: source coordinate = dst * in / out.
- ``torch_bilinear``: ``F.interpolate(mode="bilinear", align_corners=False)``, half-pixel
  centres: source = (dst + 0.5) * in / out - 0.5 (pytorch-fid's choice).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

RESIZES = ("tf_bilinear", "torch_bilinear")
SIZE = 299


@functools.lru_cache(maxsize=32)
def tf_bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix of TF1 legacy bilinear weights along one axis."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = src - lo.double()
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    m[torch.arange(n_out), lo] += 1.0 - frac
    m[torch.arange(n_out), hi] += frac
    return m


def resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if mode == "torch_bilinear":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if mode == "tf_bilinear":
        mh = tf_bilinear_matrix(x.shape[-2], size).to(x.device, x.dtype)
        mw = tf_bilinear_matrix(x.shape[-1], size).to(x.device, x.dtype)
        return mh @ x @ mw.T
    raise ValueError(f"fid_resize: unknown mode {mode!r}; allowed: {', '.join(RESIZES)}")


def inception_input(images: torch.Tensor, resize_mode: str = "tf_bilinear", size: int = SIZE) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1] -> (N, 3, 299, 299) network input in [-1, 1]."""
    x = (images.float().clamp(0.0, 1.0) * 255.0).round()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ValueError(f"images: need 1 or 3 channels, got {x.shape[1]}")
    if x.shape[-2:] != (size, size):
        x = resize(x, size, resize_mode)
    return x / 127.5 - 1.0
