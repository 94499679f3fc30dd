"""SNDCGAN: the "standard CNN" of Miyato et al. 2018 (Table 3), as compare_gan and Kurach et al.
2019 use it at 32 and 128 px.

G: z -> linear to (r/8)^2 x 512 -> norm, ReLU -> [4x4 stride-2 transposed conv, norm, ReLU] to
256, 128, 64 channels -> 3x3 stride-1 conv to the image channels -> head.
D: conv 3x3/1 64, conv 4x4/2 64, conv 3x3/1 128, conv 4x4/2 128, conv 3x3/1 256,
conv 4x4/2 256, conv 3x3/1 512, each followed by LeakyReLU 0.1 (the normalizer's feature norm
after every conv but the first) -> linear on the (r/8)^2 x 512 map -> logit.
Channel counts scale with ``width``; weights N(0, 0.02). Any multiple of 8 works; registered at
16, 32, 48 (STL-10 in SN-GAN), 64 and 128.
"""
from __future__ import annotations

import torch
from torch import nn

from study.gan.models.heads import ChannelStats, Head
from study.gan.models.layers import bn_eps, init_norm_layers, normal_init, normed, width_of
from study.gan.models.registry import ARCHITECTURES, Architecture
from study.gan.normalizers import Normalizer

INIT = normal_init(0.02)
D_LAYERS = ((3, 1, 64), (4, 2, 64), (3, 1, 128), (4, 2, 128), (3, 1, 256), (4, 2, 256), (3, 1, 512))


class SNDCGANGenerator(nn.Module):
    def __init__(self, resolution: int, channels: int, z_dim: int, width: float, norm: Normalizer, head: Head,
                 head_stats: ChannelStats | None, eps: float):
        super().__init__()
        self.start = resolution // 8
        c = [width_of(x, width) for x in (512, 256, 128, 64)]
        self.top = c[0]
        self.fc = normed(norm, nn.Linear(z_dim, self.start**2 * c[0]), INIT)
        layers: list[nn.Module] = [norm.feature_norm(c[0], eps=eps), norm.activation(c[0], nn.ReLU)]
        for cin, cout in zip(c, c[1:]):
            layers += [normed(norm, nn.ConvTranspose2d(cin, cout, 4, 2, 1), INIT), norm.feature_norm(cout, eps=eps),
                       norm.activation(cout, nn.ReLU)]
        layers += [normed(norm, nn.Conv2d(c[-1], channels, 3, 1, 1), INIT, last=True), head.make(channels, head_stats)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(z).view(z.shape[0], self.top, self.start, self.start))


class SNDCGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: float, norm: Normalizer, eps: float):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.1)  # noqa: E731
        layers: list[nn.Module] = []
        cin = channels
        for i, (k, s, c) in enumerate(D_LAYERS):
            cout = width_of(c, width)
            layers.append(normed(norm, nn.Conv2d(cin, cout, k, s, 1), INIT))
            if i > 0:
                layers.append(norm.feature_norm(cout, eps=eps))
            layers.append(norm.activation(cout, lrelu))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.fc = normed(norm, nn.Linear(cin * (resolution // 8) ** 2, 1), INIT, last=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1)).squeeze(1)


def build_sndcgan(*, resolution: int, channels: int, z_dim: int, width: float, d_norm: Normalizer,
                  g_norm: Normalizer, head: Head, head_stats: ChannelStats | None = None,
                  options: frozenset[str] = frozenset()) -> tuple[nn.Module, nn.Module]:
    eps = bn_eps(options)
    g = SNDCGANGenerator(resolution, channels, z_dim, width, g_norm, head, head_stats, eps)
    d = SNDCGANDiscriminator(resolution, channels, width, d_norm, eps)
    init_norm_layers(g)
    init_norm_layers(d)
    return g, d


# 48 px: SN-GAN's STL-10 setting (Miyato et al. 2018, Table 3: M_g = 6, G starts at 6 x 6)
ARCHITECTURES.register("sndcgan")(Architecture("sndcgan", build_sndcgan, (16, 32, 48, 64, 128)))
