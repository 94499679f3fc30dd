"""Pillow's bicubic resize of 8-bit images, reproduced exactly as two matrix products.

What ``PIL.Image.resize(size, Image.BICUBIC)`` computes for an ``L`` or ``RGB`` image (and so
torchvision's ``Resize(size, InterpolationMode.BICUBIC)`` on a PIL image), from
libImaging/Resample.c:

- ``precompute_coeffs`` (the same double weights as clean-fid's float resize: preprocess.py's
  ``pil_bicubic_matrix``): along each axis, output pixel ``i`` is centred on source coordinate
  ``c = (i + 0.5) * in / out``; when shrinking, the cubic (Keys, a = -0.5, support 2) is
  stretched by ``in / out`` (antialiasing); taps ``j`` run from ``int(c - support + 0.5)`` to
  ``int(c + support + 0.5)`` clipped to the image (no edge replication) with weight
  ``filter((j - c + 0.5) / scale)``, divided by their running sum;
- ``normalize_coeffs_8bpc``: each weight becomes a fixed-point integer with 22 fractional bits,
  rounded half away from zero;
- two passes, each ``clip8((1 << 21) + sum(pixel * weight) >> 22)``: the intermediate image
  is stored as uint8 too. Horizontal first, except (Pillow >= 13, ``ImagingResampleInner``) when
  the height shrinks by more than twice what the width shrinks: then vertical first. A square
  image, the case of every data set here, always goes horizontal first, in every Pillow version.

Here the integer weights sit in a float64 matrix and each pass is one product: every partial
sum is an integer below 2**53, so float64 holds it exactly, and the shift is an exact floor of a
division by 2**22. The result equals Pillow's to the bit (tests/study/gan/test_dinov2.py compares
them on random images of several sizes, up and down).
"""
from __future__ import annotations

import functools

import torch

PRECISION_BITS = 22  # 32 - 8 - 2, as Resample.c


@functools.lru_cache(maxsize=32)
def fixed_point_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) float64 matrix of Pillow's integer bicubic weights (scaled by 2**22): its
    double weights (study.gan.metrics.preprocess.pil_bicubic_matrix, ``precompute_coeffs``)
    rounded as ``normalize_coeffs_8bpc`` rounds them, half away from zero."""
    from study.gan.metrics.preprocess import pil_bicubic_matrix

    m = pil_bicubic_matrix(n_in, n_out) * float(1 << PRECISION_BITS)
    return torch.where(m < 0, m - 0.5, m + 0.5).trunc()


def _quantise(acc: torch.Tensor) -> torch.Tensor:
    """``clip8`` of fixed-point sums, in place: floor((acc + 2**21) / 2**22) within [0, 255]."""
    acc.add_(float(1 << (PRECISION_BITS - 1))).mul_(1.0 / (1 << PRECISION_BITS)).floor_()
    return acc.clamp_(0.0, 255.0)


def resize_uint8(x: torch.Tensor, height: int, width: int, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """(..., H, W) uint8 values (any dtype holding integers 0..255) -> (..., height, width), as
    Pillow's bicubic ``resize((width, height))`` of the same image, channel by channel; in
    ``dtype`` (the values are integers 0..255 in any)."""
    out = x.to(torch.float64)
    h_in, w_in = out.shape[-2:]

    def horizontal(t: torch.Tensor) -> torch.Tensor:  # Pillow skips a pass whose size does not change
        return _quantise(t @ fixed_point_matrix(w_in, width).to(t.device).T) if w_in != width else t

    def vertical(t: torch.Tensor) -> torch.Tensor:
        return _quantise(fixed_point_matrix(h_in, height).to(t.device) @ t) if h_in != height else t

    vertical_first = 0 < h_in - height and h_in - height > (w_in - width) * 2
    out = horizontal(vertical(out)) if vertical_first else vertical(horizontal(out))
    return out.to(dtype)
