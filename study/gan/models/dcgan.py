"""DCGAN (Radford et al. 2016), resolution-generic with a width multiplier.

G: z -> linear to 4x4 x C_top -> norm, ReLU -> [4x4 stride-2 transposed conv, norm, ReLU] x (n-1)
-> 4x4 stride-2 transposed conv to the image channels -> head; n = log2(resolution / 4).
D: 4x4 stride-2 conv (no feature norm on the input layer, as in the paper) -> LeakyReLU 0.2 ->
[4x4 stride-2 conv, norm, LeakyReLU 0.2] x (n-1) -> linear on the 4x4 map -> logit.
Channels double as resolution halves: 64 * width at full resolution (64 * width * 2^(n-1) at
4x4; width 1 at 64 px gives the paper's 64-128-256-512). Weights N(0, 0.02), BN scales
N(1, 0.02), as in the paper.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from study.gan.models.heads import ChannelStats, Head
from study.gan.models.layers import TRICK_OPTIONS, bn_eps, down_conv, init_norm_layers, normal_init, normed, width_of
from study.gan.models.registry import ARCHITECTURES, Architecture
from study.gan.normalizers import Normalizer

INIT = normal_init(0.02)


def _stages(resolution: int) -> int:
    n = int(math.log2(resolution)) - 2
    if n < 1 or 4 * 2**n != resolution:
        raise ValueError(f"resolution: DCGAN needs a power of two >= 8, got {resolution}")
    return n


class DCGANGenerator(nn.Module):
    def __init__(self, resolution: int, channels: int, z_dim: int, width: float, norm: Normalizer, head: Head,
                 head_stats: ChannelStats | None = None, eps: float = 1e-5):
        super().__init__()
        n, base = _stages(resolution), width_of(64, width)
        top = base * 2 ** (n - 1)
        self.top = top
        self.fc = normed(norm, nn.Linear(z_dim, top * 16), INIT)
        self.fc_act = nn.Sequential(norm.feature_norm(top, eps=eps), norm.activation(top, nn.ReLU))
        layers: list[nn.Module] = []
        c = top
        for _ in range(n - 1):
            layers += [normed(norm, nn.ConvTranspose2d(c, c // 2, 4, 2, 1), INIT),
                       norm.feature_norm(c // 2, eps=eps), norm.activation(c // 2, nn.ReLU)]
            c //= 2
        layers += [normed(norm, nn.ConvTranspose2d(c, channels, 4, 2, 1), INIT, last=True),
                   head.make(channels, head_stats)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], self.top, 4, 4)
        return self.body(self.fc_act(x))


class DCGANDiscriminator(nn.Module):
    """``features(x)``: the flattened last conv map (the input of the linear output layer ``fc``),
    what feature matching, the minibatch layers and the projection use."""

    def __init__(self, resolution: int, channels: int, width: float, norm: Normalizer, eps: float = 1e-5,
                 avgpool: bool = False):
        super().__init__()
        n, base = _stages(resolution), width_of(64, width)
        lrelu = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        layers: list[nn.Module] = [*down_conv(norm, channels, base, INIT, avgpool),
                                   norm.activation(base, lrelu)]
        c = base
        for _ in range(n - 1):
            layers += [*down_conv(norm, c, c * 2, INIT, avgpool), norm.feature_norm(c * 2, eps=eps),
                       norm.activation(c * 2, lrelu)]
            c *= 2
        self.body = nn.Sequential(*layers)
        self.fc = normed(norm, nn.Linear(c * 16, 1), INIT, last=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)).squeeze(1)


def build_dcgan(*, resolution: int, channels: int, z_dim: int, width: float, d_norm: Normalizer,
                g_norm: Normalizer, head: Head, head_stats: ChannelStats | None = None,
                options: frozenset[str] = frozenset(), init: str = "dcgan",
                upsample: str = "transposed") -> tuple[nn.Module, nn.Module]:
    g = DCGANGenerator(resolution, channels, z_dim, width, g_norm, head, head_stats, bn_eps(options))
    d = DCGANDiscriminator(resolution, channels, width, d_norm, avgpool="d_avgpool" in options)
    init_norm_layers(g, std=0.02)
    init_norm_layers(d, std=0.02)
    return g, d


ARCHITECTURES.register("dcgan")(Architecture("dcgan", build_dcgan, (8, 16, 32, 64, 128),
                                             options=("eps", *TRICK_OPTIONS), inits=("dcgan",)))
