"""Image preprocessing for the Inception network, as the FID references do it.

Images in [0, 1] -> quantised to uint8 values by rounding (not truncation) -> grayscale tiled
to 3 channels -> resized to 299 x 299 -> scaled as the chosen reference does.

Modes (they move FID slightly; every row records which):
- ``tf_bilinear``: the TF 2015-12-05 Inception graph's own input ops, as TTUR's FID and
  torch-fidelity run them: TensorFlow 1's ``resize_bilinear`` (align_corners=False, no
  half-pixel centres: source coordinate = dst * in / out), then (x - 128) / 128.
- ``torch_bilinear``: pytorch-fid's: ``F.interpolate(mode="bilinear", align_corners=False)``,
  half-pixel centres (source = (dst + 0.5) * in / out - 0.5), then x / 127.5 - 1.
- ``clean``: clean-fid's (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN
  Evaluation", CVPR 2022; cleanfid/resize.py ``make_resizer("PIL", False, "bicubic", (299, 299))``):
  each channel resized as a float32 PIL image with ``Image.BICUBIC``, clipped to [0, 255] and not
  re-quantised, then the TF graph's (x - 128) / 128 (cleanfid/inception_torchscript.py,
  ``InceptionV3W.forward`` without ``resize_inside``). Done here as two matrix products that
  reproduce Pillow's float resampling (``pil_bicubic_matrix``), not through PIL.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

RESIZES = ("tf_bilinear", "torch_bilinear", "clean")
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


def _pil_bicubic(x: float) -> float:
    """Pillow's ``bicubic_filter`` (libImaging/Resample.c): Keys' cubic with a = -0.5."""
    a, x = -0.5, abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


@functools.lru_cache(maxsize=32)
def pil_bicubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of Pillow's bicubic resampling along one axis (``precompute_coeffs``
    in libImaging/Resample.c): output pixel i is centred on source coordinate (i + 0.5) * in / out;
    when shrinking, the filter is stretched by in / out (antialiasing); taps falling outside the
    image are dropped and the remaining weights renormalised to sum 1 (no edge replication)."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale  # bicubic support 2, stretched when shrinking
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)  # C's truncating casts, as Pillow
        hi = min(int(centre + support + 0.5), n_in)
        w = [_pil_bicubic((j - centre + 0.5) * (1.0 / filterscale)) for j in range(lo, hi)]
        total = 0.0
        for v in w:  # the running sum, in Pillow's order
            total += v
        m[i, lo:hi] = torch.tensor([v / total if total != 0.0 else v for v in w], dtype=torch.float64)
    return m


def resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if mode == "torch_bilinear":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if mode == "tf_bilinear":
        mh = tf_bilinear_matrix(x.shape[-2], size).to(x.device, x.dtype)
        mw = tf_bilinear_matrix(x.shape[-1], size).to(x.device, x.dtype)
        return mh @ x @ mw.T
    if mode == "clean":
        # Pillow's two passes, horizontal first, each accumulated in double and stored as float32.
        mh = pil_bicubic_matrix(x.shape[-2], size).to(x.device)
        mw = pil_bicubic_matrix(x.shape[-1], size).to(x.device)
        rows = (x.double() @ mw.T).float()
        return (mh @ rows.double()).float().clamp_(0.0, 255.0).to(x.dtype)
    raise ValueError(f"fid_resize: unknown mode {mode!r}; allowed: {', '.join(RESIZES)}")


# How each mode scales uint8 values for the network: (offset, divisor). Part of the real
# statistics' cache key, so statistics made with another scaling are never reused.
INPUT_SCALES = {"tf_bilinear": (128.0, 128.0), "torch_bilinear": (127.5, 127.5), "clean": (128.0, 128.0)}


def inception_input(images: torch.Tensor, resize_mode: str = "tf_bilinear", size: int = SIZE) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1] -> (N, 3, 299, 299) network input, about [-1, 1]."""
    x = (images.float().clamp(0.0, 1.0) * 255.0).round()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ValueError(f"images: need 1 or 3 channels, got {x.shape[1]}")
    if x.shape[-2:] != (size, size):
        x = resize(x, size, resize_mode)
    offset, divisor = INPUT_SCALES[resize_mode]
    return (x - offset) / divisor
