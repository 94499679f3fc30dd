"""Generator output heads: the last activation and the data range it implies.

- ``sigmoid``: outputs in [0, 1] (compare_gan); the data are scaled to [0, 1].
- ``tanh``: outputs in [-1, 1] (Radford et al. 2016); the data are scaled to [-1, 1].
- ``tanh01``: 0.5 tanh + 0.5, outputs in [0, 1]: compare_gan's SNDCGAN, which keeps the SN-GAN
  authors' tanh but the framework's [0, 1] data.
- ``bn_tanh``: batch norm then tanh (Mullery and Whelan), BN at its default initialisation.
- ``bn_clip``: batch norm then clipping to [-1, 1] (Mullery and Whelan); BN's scale and shift
  are initialised to the per-channel standard deviation and mean of the training images in
  that range, and train from there. ``bn_clip_frozen`` keeps them fixed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from study.gan.registry import Registry

ChannelStats = tuple[torch.Tensor, torch.Tensor]  # per-channel (mean, std) in the head's range


@dataclass(frozen=True)
class Head:
    name: str
    low: float
    high: float
    make: Callable[[int, ChannelStats | None], nn.Module]


class Clip(nn.Module):
    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(self.low, self.high)


class HalfTanh(nn.Module):
    """0.5 tanh(x) + 0.5 = (tanh(x) + 1) / 2, compare_gan's SNDCGAN output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * 0.5 + 0.5


def _bn_clip(frozen: bool) -> Callable[[int, ChannelStats | None], nn.Module]:
    def make(channels: int, stats: ChannelStats | None) -> nn.Module:
        bn = nn.BatchNorm2d(channels)
        if stats is not None:
            mean, std = stats
            with torch.no_grad():
                bn.weight.copy_(std.reshape(channels))
                bn.bias.copy_(mean.reshape(channels))
        bn.weight.requires_grad_(not frozen)
        bn.bias.requires_grad_(not frozen)
        bn.head_initialised = True  # architectures' weight init leaves it alone
        return nn.Sequential(bn, Clip(-1.0, 1.0))

    return make


HEADS: Registry[Head] = Registry("generator head")
for _h in (
    Head("sigmoid", 0.0, 1.0, lambda c, s: nn.Sigmoid()),
    Head("tanh", -1.0, 1.0, lambda c, s: nn.Tanh()),
    Head("tanh01", 0.0, 1.0, lambda c, s: HalfTanh()),
    Head("bn_tanh", -1.0, 1.0, lambda c, s: nn.Sequential(nn.BatchNorm2d(c), nn.Tanh())),
    Head("bn_clip", -1.0, 1.0, _bn_clip(frozen=False)),
    Head("bn_clip_frozen", -1.0, 1.0, _bn_clip(frozen=True)),
):
    HEADS.register(_h.name)(_h)
