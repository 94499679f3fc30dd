"""Image preprocessing for the Inception network, as the FID references do it.

Images in [0, 1] -> quantised to uint8 values by rounding (not truncation) -> grayscale tiled
to 3 channels -> resized to 299 x 299 bilinearly -> scaled as the chosen reference does.

Modes (they move FID slightly; every row records which):
- ``tf_bilinear``: the TF 2015-12-05 Inception graph's own input ops, as TTUR's FID and
  torch-fidelity run them: TensorFlow 1's ``resize_bilinear`` (align_corners=False, no
  half-pixel centres: source coordinate = dst * in / out), then (x - 128) / 128.
- ``torch_bilinear``: pytorch-fid's: ``F.interpolate(mode="bilinear", align_corners=False)``,
  half-pixel centres (source = (dst + 0.5) * in / out - 0.5), then x / 127.5 - 1.
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


# How each mode scales uint8 values for the network: (offset, divisor). Part of the real
# statistics' cache key, so statistics made with another scaling are never reused.
INPUT_SCALES = {"tf_bilinear": (128.0, 128.0), "torch_bilinear": (127.5, 127.5)}


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
