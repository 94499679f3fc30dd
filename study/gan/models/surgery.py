"""Generator changes applied to any architecture after it is built, and the checkerboard check.

- ``g_lrelu`` (arch option): every ReLU of G becomes LeakyReLU(0.2) ("Tips for training stable
  GANs", tip 5; Radford et al. 2016 keep ReLU in G and LeakyReLU in D).
- ``g_dropout`` (trial setting): dropout with probability p after every hidden activation of G,
  active in training and in generation alike (Isola et al. 2017, Sec. 3.1: "dropout ... applied
  at both training and test time"; the tips' tip 17, p = 0.5), so it is a source of noise.
- ``checkerboard_warnings``: Odena et al. 2016 ("Deconvolution and checkerboard artifacts"): a
  strided (transposed) convolution whose kernel size is not divisible by its stride overlaps
  unevenly; every such layer is named (``build_models`` warns).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from study.gan.normalizers import TPReLU

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, TPReLU)


class AlwaysDropout(nn.Module):
    """Dropout that stays on in eval mode (the generator's noise source)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True)


def _replace(module: nn.Module, make) -> int:
    """Replace every child for which ``make(child)`` is not None, recursively; count them."""
    count = 0
    for name, child in list(module.named_children()):
        new = make(child)
        if new is not None:
            setattr(module, name, new)
            count += 1
        else:
            count += _replace(child, make)
    return count


def leaky_generator(g: nn.Module, slope: float = 0.2) -> int:
    return _replace(g, lambda m: nn.LeakyReLU(slope) if type(m) is nn.ReLU else None)


def dropout_generator(g: nn.Module, p: float) -> int:
    """Dropout after every hidden activation of G (ReLU, LeakyReLU, PReLU)."""
    return _replace(g, lambda m: nn.Sequential(m, AlwaysDropout(p)) if isinstance(m, ACTIVATIONS) else None)


def checkerboard_warnings(model: nn.Module) -> list[str]:
    out = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            for k, s in zip(m.kernel_size, m.stride):
                if s > 1 and k % s:
                    kind = "transposed convolution" if isinstance(m, nn.ConvTranspose2d) else "convolution"
                    out.append(f"{name or type(model).__name__}: {kind} kernel {tuple(m.kernel_size)} is not divisible "
                               f"by its stride {tuple(m.stride)} (uneven overlap: checkerboard artifacts, "
                               "Odena et al. 2016)")
                    break
    return out
