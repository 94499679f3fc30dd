"""SNDCGAN, the "standard CNN" of Miyato et al. 2018 (Table 3), in two registered forms.

``sndcgan``: compare_gan v2's ``sn_generator`` / ``sn_discriminator``, the code behind Kurach et
al. 2019's numbers (and v3's ``sndcgan.py``, the same layers):
G: z -> linear to (r/8)^2 x 512 -> batch norm over that flat output -> ReLU -> reshape ->
[4x4 stride-2 transposed conv, norm, ReLU] to 256, 128, 64 channels -> 3x3 stride-1 conv to
the image channels -> head (reference: ``tanh01``, 0.5 tanh + 0.5, data in [0, 1]). Every
batch norm of G has epsilon 2e-5 (``batch_norm_dcgan(..., epsilon=2e-5)``).
D: maps its input from the head's range to [-1, 1] (compare_gan: x -> 2x - 1), then conv 3x3/1
64, conv 4x4/2 128, conv 3x3/1 128, conv 4x4/2 256, conv 3x3/1 256, conv 4x4/2 512, conv 3x3/1
512, each followed by LeakyReLU 0.1 -> linear on the (r/8)^2 x 512 map -> logit. compare_gan
allows only SN or nothing in this D; other normalizers' feature norms (BN, LN) go after every
conv but the first, with their own epsilon. Weights N(0, 0.02) (compare_gan passes
``initializer=normal`` to these convs), biases 0.

``sndcgan_paper``: the same design with the SN-GAN paper's D widths (64, 64, 128, 128, 256, 256,
512), G's first norm over the reshaped 4x4 x 512 map, the ablation epsilon for G's batch norm,
D fed the head's output as is, and ``tanh`` as the reference head.

Channel counts scale with ``width``. Any multiple of 8 works; registered at 16, 32, 48 (STL-10
in SN-GAN: Table 3, G starts at 6 x 6), 64 and 128 px.
"""
from __future__ import annotations

import torch
from torch import nn

from study.gan.models.heads import ChannelStats, Head
from study.gan.models.layers import (
    BN_EPS_DEFAULT,
    TRICK_OPTIONS,
    bn_eps,
    down_conv,
    init_norm_layers,
    normal_init,
    normed,
    width_of,
)
from study.gan.models.registry import ARCHITECTURES, Architecture
from study.gan.normalizers import Normalizer

INIT = normal_init(0.02)
D_LAYERS = ((3, 1, 64), (4, 2, 128), (3, 1, 128), (4, 2, 256), (3, 1, 256), (4, 2, 512), (3, 1, 512))
D_LAYERS_PAPER = ((3, 1, 64), (4, 2, 64), (3, 1, 128), (4, 2, 128), (3, 1, 256), (4, 2, 256), (3, 1, 512))
G_BN_EPS = 2e-5  # compare_gan v2 dcgan_architecture.sn_generator
RESOLUTIONS = (16, 32, 48, 64, 128)


class SNDCGANGenerator(nn.Module):
    def __init__(self, resolution: int, channels: int, z_dim: int, width: float, norm: Normalizer, head: Head,
                 head_stats: ChannelStats | None, eps: float, flat_norm: bool):
        super().__init__()
        self.start = resolution // 8
        c = [width_of(x, width) for x in (512, 256, 128, 64)]
        self.top = c[0]
        self.flat_norm = flat_norm
        flat = self.start**2 * c[0]
        self.fc = normed(norm, nn.Linear(z_dim, flat), INIT)
        # The first norm acts on the linear layer's flat output (compare_gan) or on the 4x4 map.
        self.fc_norm = norm.feature_norm(flat if flat_norm else c[0], eps=eps)
        layers: list[nn.Module] = [norm.activation(c[0], nn.ReLU)]
        for cin, cout in zip(c, c[1:]):
            layers += [normed(norm, nn.ConvTranspose2d(cin, cout, 4, 2, 1), INIT), norm.feature_norm(cout, eps=eps),
                       norm.activation(cout, nn.ReLU)]
        layers += [normed(norm, nn.Conv2d(c[-1], channels, 3, 1, 1), INIT, last=True), head.make(channels, head_stats)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z)
        if self.flat_norm:  # (N, F, 1, 1): a per-feature norm over the flat output
            h = self.fc_norm(h.view(z.shape[0], -1, 1, 1)).view(z.shape[0], self.top, self.start, self.start)
        else:
            h = self.fc_norm(h.view(z.shape[0], self.top, self.start, self.start))
        return self.body(h)


class SNDCGANDiscriminator(nn.Module):
    """``features(x)``: the flattened last conv map, the input of the linear output layer ``fc``."""

    def __init__(self, resolution: int, channels: int, width: float, norm: Normalizer, layer_table,
                 input_range: tuple[float, float] | None, avgpool: bool = False):
        super().__init__()
        lrelu = lambda: nn.LeakyReLU(0.1)  # noqa: E731
        layers: list[nn.Module] = []
        cin = channels
        for i, (k, s, c) in enumerate(layer_table):
            cout = width_of(c, width)
            if s == 2:  # 4x4 stride 2, or (d_avgpool) 3x3 stride 1 then 2x2 average pooling
                layers += down_conv(norm, cin, cout, INIT, avgpool)
            else:
                layers.append(normed(norm, nn.Conv2d(cin, cout, k, s, 1), INIT))
            if i > 0:
                layers.append(norm.feature_norm(cout, eps=BN_EPS_DEFAULT))
            layers.append(norm.activation(cout, lrelu))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.fc = normed(norm, nn.Linear(cin * (resolution // 8) ** 2, 1), INIT, last=True)
        # x in [low, high] -> 2 (x - low) / (high - low) - 1; identity for a [-1, 1] head.
        low, high = input_range or (-1.0, 1.0)
        self.in_scale, self.in_shift = 2.0 / (high - low), -2.0 * low / (high - low) - 1.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_scale != 1.0 or self.in_shift != 0.0:
            x = x * self.in_scale + self.in_shift
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)).squeeze(1)


def build_sndcgan(*, resolution: int, channels: int, z_dim: int, width: float, d_norm: Normalizer,
                  g_norm: Normalizer, head: Head, head_stats: ChannelStats | None = None,
                  options: frozenset[str] = frozenset(), init: str = "compare_gan",
                  upsample: str = "transposed") -> tuple[nn.Module, nn.Module]:
    g = SNDCGANGenerator(resolution, channels, z_dim, width, g_norm, head, head_stats, G_BN_EPS, flat_norm=True)
    d = SNDCGANDiscriminator(resolution, channels, width, d_norm, D_LAYERS, (head.low, head.high),
                             avgpool="d_avgpool" in options)
    init_norm_layers(g)
    init_norm_layers(d)
    return g, d


def build_sndcgan_paper(*, resolution: int, channels: int, z_dim: int, width: float, d_norm: Normalizer,
                        g_norm: Normalizer, head: Head, head_stats: ChannelStats | None = None,
                        options: frozenset[str] = frozenset(), init: str = "compare_gan",
                        upsample: str = "transposed") -> tuple[nn.Module, nn.Module]:
    g = SNDCGANGenerator(resolution, channels, z_dim, width, g_norm, head, head_stats, bn_eps(options),
                         flat_norm=False)
    d = SNDCGANDiscriminator(resolution, channels, width, d_norm, D_LAYERS_PAPER, None, avgpool="d_avgpool" in options)
    init_norm_layers(g)
    init_norm_layers(d)
    return g, d


ARCHITECTURES.register("sndcgan")(
    Architecture("sndcgan", build_sndcgan, RESOLUTIONS, options=TRICK_OPTIONS, head="tanh01"))
ARCHITECTURES.register("sndcgan_paper")(
    Architecture("sndcgan_paper", build_sndcgan_paper, RESOLUTIONS, options=("eps", *TRICK_OPTIONS), head="tanh"))
