"""DCGAN (Radford et al. 2016), resolution-generic with a width multiplier.

G: z -> linear to 4x4 x C_top -> BN, ReLU -> [4x4 stride-2 transposed conv, BN, ReLU] x (n-1)
-> 4x4 stride-2 transposed conv to the image channels -> head; n = log2(resolution / 4).
D: 4x4 stride-2 conv (no normalizer on the input layer, as in the paper) -> LeakyReLU 0.2 ->
[4x4 stride-2 conv, normalizer, LeakyReLU 0.2] x (n-1) -> linear on the 4x4 map -> logit.
Channels double as resolution halves: 64 * width at full resolution (64 * width * 2^(n-1) at
4x4). Weights are initialised N(0, 0.02) as in the paper.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from study.models.heads import Head
from study.models.registry import ARCHITECTURES, Architecture
from study.normalizers import Normalizer


def _stages(resolution: int) -> int:
    n = int(math.log2(resolution)) - 2
    if n < 1 or 4 * 2**n != resolution:
        raise ValueError(f"resolution: DCGAN needs a power of two >= 8, got {resolution}")
    return n


def _base(width: float) -> int:
    return max(1, int(round(64 * width)))


class DCGANGenerator(nn.Module):
    def __init__(self, resolution: int, channels: int, z_dim: int, width: float, norm: Normalizer, head: Head):
        super().__init__()
        n, base = _stages(resolution), _base(width)
        top = base * 2 ** (n - 1)
        self.top = top
        self.fc = nn.Linear(z_dim, top * 16)
        self.fc_norm = nn.Sequential(norm.feature_norm(top), nn.ReLU())
        layers: list[nn.Module] = []
        c = top
        for _ in range(n - 1):
            layers += [norm.wrap(nn.ConvTranspose2d(c, c // 2, 4, 2, 1)), norm.feature_norm(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), head.make(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], self.top, 4, 4)
        return self.body(self.fc_norm(x))


class DCGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: float, norm: Normalizer):
        super().__init__()
        n, base = _stages(resolution), _base(width)
        layers: list[nn.Module] = [norm.wrap(nn.Conv2d(channels, base, 4, 2, 1)), nn.LeakyReLU(0.2)]
        c = base
        for _ in range(n - 1):
            layers += [norm.wrap(nn.Conv2d(c, c * 2, 4, 2, 1)), norm.feature_norm(c * 2), nn.LeakyReLU(0.2)]
            c *= 2
        self.body = nn.Sequential(*layers)
        self.fc = norm.wrap(nn.Linear(c * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1)).squeeze(1)


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv and linear weights, N(1, 0.02) for BN scales, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_dcgan(*, resolution: int, channels: int, z_dim: int, width: float,
                d_norm: Normalizer, g_norm: Normalizer, head: Head) -> tuple[nn.Module, nn.Module]:
    g = DCGANGenerator(resolution, channels, z_dim, width, g_norm, head)
    d = DCGANDiscriminator(resolution, channels, width, d_norm)
    init_dcgan_weights(g)
    init_dcgan_weights(d)
    return g, d


ARCHITECTURES.register("dcgan")(Architecture("dcgan", build_dcgan, (8, 16, 32, 64, 128)))
