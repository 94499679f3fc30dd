"""Named crop-and-resize policies, applied to one decoded image (Pillow), uint8 out.

- ``center_crop_resize``: crop the centred square of side min(W, H) (offsets floor((W - s) / 2),
  floor((H - s) / 2)), then resize it to R x R with Pillow's antialiased bicubic filter (none when
  it is already R). The policy for square releases resized down (CelebA-HQ 1024 -> 128, STL-10
  96 -> 48) and for generic folders.
- ``center_crop``: the centred R x R window, no rescaling (compare_gan's LSUN bedroom at 128:
  ``tf.image.resize_image_with_crop_or_pad``; an image smaller than R is an error, not padded).
- ``resize``: the whole image to R x R (aspect ratio not kept), bicubic.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

CROPS = {
    "center_crop_resize": "centred square of side min(W, H), then Pillow bicubic (antialiased) resize to R x R",
    "center_crop": "centred R x R window, no rescaling (an image smaller than R is an error)",
    "resize": "whole image Pillow bicubic (antialiased) resized to R x R, aspect ratio not kept",
}
RESAMPLE = Image.Resampling.BICUBIC


class TooSmall(ValueError):
    """An image smaller than the window ``center_crop`` cuts from it."""


def eight_bit(image: Image.Image) -> Image.Image:
    """16-bit greyscale (a PNG's mode ``I;16``, or ``I``) -> 8-bit ``L``, value / 257 rounded
    (0 -> 0, 65535 -> 255): Pillow's ``convert("RGB")`` clips every value above 255 to white."""
    if not (image.mode.startswith("I;16") or image.mode == "I"):
        return image
    wide = np.asarray(image).astype(np.int64)
    if wide.size and (wide.min() < 0 or wide.max() > 65535):
        raise ValueError(f"mode {image.mode} values {wide.min()}..{wide.max()} lie outside the 16-bit range 0..65535")
    return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")


def fit(image: Image.Image, resolution: int, crop: str) -> np.ndarray:
    """``image`` (any mode; 16-bit greyscale scaled to 8 bits) -> uint8 (3, R, R) array under the policy ``crop``."""
    if image.mode != "RGB":
        image = eight_bit(image).convert("RGB")
    w, h = image.size
    if crop == "center_crop_resize":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        if (w, h) != (s, s):
            image = image.crop((left, top, left + s, top + s))
        if s != resolution:
            image = image.resize((resolution, resolution), RESAMPLE)
    elif crop == "center_crop":
        if w < resolution or h < resolution:
            raise TooSmall(f"{w}x{h} image is smaller than the {resolution}x{resolution} centre crop")
        left, top = (w - resolution) // 2, (h - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
    elif crop == "resize":
        if (w, h) != (resolution, resolution):
            image = image.resize((resolution, resolution), RESAMPLE)
    else:
        raise ValueError(f"crop: invalid value {crop!r}; allowed: {', '.join(CROPS)}")
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def fit_array(images: np.ndarray, resolution: int, crop: str) -> np.ndarray:
    """uint8 (N, 3, H, W) -> (N, 3, R, R); a no-op copy-free pass when already R x R and square."""
    n, _, h, w = images.shape
    if h == w == resolution:
        return images
    out = np.empty((n, 3, resolution, resolution), dtype=np.uint8)
    for i in range(n):
        out[i] = fit(Image.fromarray(np.ascontiguousarray(images[i].transpose(1, 2, 0))), resolution, crop)
    return out
