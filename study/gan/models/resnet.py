"""ResNet GANs of compare_gan / Kurach et al. 2019: ResNet CIFAR (32 px, the SN-GAN design) and
ResNet19 (128 px), with the paper's ablation switches (Section 5 / Figure 6).

Blocks (compare_gan): pre-activation [norm] -> ReLU -> conv3x3, twice; a 3x3 conv shortcut.
G blocks upsample x2 before the first conv, on both paths: by zero-insertion unpooling
(``upsample: unpool``, compare_gan v2 and v3, the reference) or nearest neighbour
(``nearest``, the SN-GAN code). D blocks downsample by
2x2 average pooling after the second conv, on both paths. D head: ReLU -> global mean pooling ->
linear; G tail: norm -> ReLU -> conv3x3 -> head (sigmoid, data in [0, 1], by default; the TAN
ablation is ``g_head: tanh``).

Switches (``options``), each one flag:
- ``skip``: identity shortcut in D blocks where channels match (instead of the conv);
- ``cin``: hidden channels of D blocks = c_in (instead of c_out);
- ``opt``: optimised first D block: conv -> norm -> ReLU -> conv -> pool, no ReLU first;
- ``sum``: the D head sums over space instead of averaging;
- ``eps``: batch-norm epsilon 2e-5 instead of 1e-5.

ResNet CIFAR: G z -> linear 4x4 x 256 -> 3 up blocks of 256 (n = log2(r/4) in general);
D 4 blocks of 128, the first two (log2(r/8)) downsampling.
ResNet19: G z -> linear 4x4 x 512 -> up blocks 512, 256, 256, 128, 64; D down blocks 64, 128,
256, 256, 512, 512.

Weights (``init``): ``compare_gan`` (v2 ``ops``, the reference): convolutions truncated N(0, 0.02)
(redrawn outside +-0.04), linear layers N(0, 0.02); ``sngan``: Xavier-uniform with gain sqrt(2)
in residual paths and 1 elsewhere (the SN-GAN code). Biases 0. The ``eps`` switch sets G's
batch-norm epsilon only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from study.gan.models.heads import ChannelStats, Head
from study.gan.models.layers import (
    ARCH_OPTIONS,
    BN_EPS_DEFAULT,
    UPSAMPLERS,
    Init,
    bn_eps,
    init_norm_layers,
    normal_init,
    normed,
    truncated_normal_init,
    width_of,
    xavier_init,
)
from study.gan.models.registry import ARCHITECTURES, Architecture
from study.gan.normalizers import Normalizer


@dataclass(frozen=True)
class Inits:
    """Initialisers of one ``init`` choice: residual-path convs, shortcut / output convs, linear."""

    residual: Init
    shortcut: Init
    linear: Init


INITS = {
    "compare_gan": Inits(truncated_normal_init(0.02), truncated_normal_init(0.02), normal_init(0.02)),
    "sngan": Inits(xavier_init(math.sqrt(2.0)), xavier_init(1.0), xavier_init(1.0)),
}


def conv3(norm: Normalizer, cin: int, cout: int, init: Init, last: bool = False) -> nn.Module:
    return normed(norm, nn.Conv2d(cin, cout, 3, 1, 1), init, last=last)


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, norm: Normalizer, eps: float, inits: Inits, upsample: str):
        super().__init__()
        self.up = UPSAMPLERS[upsample]
        self.norm1, self.act1 = norm.feature_norm(cin, eps=eps), norm.activation(cin, nn.ReLU)
        self.conv1 = conv3(norm, cin, cout, inits.residual)
        self.norm2, self.act2 = norm.feature_norm(cout, eps=eps), norm.activation(cout, nn.ReLU)
        self.conv2 = conv3(norm, cout, cout, inits.residual)
        self.shortcut = conv3(norm, cin, cout, inits.shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(self.act1(self.norm1(x)))
        h = self.conv2(self.act2(self.norm2(self.conv1(h))))
        return h + self.shortcut(self.up(x))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, norm: Normalizer, down: bool, options: frozenset[str],
                 first: bool, inits: Inits):
        super().__init__()
        eps = BN_EPS_DEFAULT
        self.down = down
        self.optimized = first and "opt" in options
        hidden = cin if ("cin" in options and not self.optimized) else cout
        self.norm1 = nn.Identity() if self.optimized else norm.feature_norm(cin, eps=eps)
        self.act1 = nn.Identity() if self.optimized else norm.activation(cin, nn.ReLU)
        self.conv1 = conv3(norm, cin, hidden, inits.residual)
        self.norm2, self.act2 = norm.feature_norm(hidden, eps=eps), norm.activation(hidden, nn.ReLU)
        self.conv2 = conv3(norm, hidden, cout, inits.residual)
        identity = "skip" in options and cin == cout and not self.optimized
        self.shortcut = nn.Identity() if identity else conv3(norm, cin, cout, inits.shortcut)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.act2(self.norm2(self.conv1(self.act1(self.norm1(x))))))
        return self._pool(h) + self._pool(self.shortcut(x))


class ResNetGenerator(nn.Module):
    def __init__(self, channels_list: list[int], top: int, out_channels: int, z_dim: int, norm: Normalizer,
                 head: Head, head_stats: ChannelStats | None, eps: float, inits: Inits, upsample: str):
        super().__init__()
        self.top = top
        self.fc = normed(norm, nn.Linear(z_dim, 16 * top), inits.linear)
        blocks, c = [], top
        for cout in channels_list:
            blocks.append(GBlock(c, cout, norm, eps, inits, upsample))
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.tail = nn.Sequential(norm.feature_norm(c, eps=eps), norm.activation(c, nn.ReLU),
                                  conv3(norm, c, out_channels, inits.shortcut, last=True),
                                  head.make(out_channels, head_stats))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.tail(self.blocks(self.fc(z).view(z.shape[0], self.top, 4, 4)))


class ResNetDiscriminator(nn.Module):
    def __init__(self, spec: list[tuple[int, bool]], in_channels: int, norm: Normalizer, options: frozenset[str],
                 inits: Inits):
        super().__init__()
        blocks, c = [], in_channels
        for i, (cout, down) in enumerate(spec):
            blocks.append(DBlock(c, cout, norm, down, options, i == 0, inits))
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.act = norm.activation(c, nn.ReLU)
        self.sum = "sum" in options
        self.fc = normed(norm, nn.Linear(c, 1), inits.linear, last=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled last activations (the input of the linear output layer ``fc``)."""
        h = self.act(self.blocks(x))
        return h.sum((2, 3)) if self.sum else h.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)).squeeze(1)


def _levels(resolution: int, base: int) -> int:
    n = int(math.log2(resolution // base))
    if base * 2**n != resolution or n < 1:
        raise ValueError(f"resolution: {resolution} is not {base} times a power of two")
    return n


def build_resnet_cifar(*, resolution: int, channels: int, z_dim: int, width: float, d_norm: Normalizer,
                       g_norm: Normalizer, head: Head, head_stats: ChannelStats | None = None,
                       options: frozenset[str] = frozenset(), init: str = "compare_gan",
                       upsample: str = "unpool") -> tuple[nn.Module, nn.Module]:
    inits, g_c, d_c = INITS[init], width_of(256, width), width_of(128, width)
    g = ResNetGenerator([g_c] * _levels(resolution, 4), g_c, channels, z_dim, g_norm, head, head_stats,
                        bn_eps(options), inits, upsample)
    n_down = _levels(resolution, 8)
    d = ResNetDiscriminator([(d_c, True)] * n_down + [(d_c, False)] * 2, channels, d_norm, options, inits)
    init_norm_layers(g)
    init_norm_layers(d)
    return g, d


def build_resnet19(*, resolution: int, channels: int, z_dim: int, width: float, d_norm: Normalizer,
                   g_norm: Normalizer, head: Head, head_stats: ChannelStats | None = None,
                   options: frozenset[str] = frozenset(), init: str = "compare_gan",
                   upsample: str = "unpool") -> tuple[nn.Module, nn.Module]:
    inits = INITS[init]
    g_list = [width_of(c, width) for c in (512, 256, 256, 128, 64)]
    d_list = [(width_of(c, width), True) for c in (64, 128, 256, 256, 512, 512)]
    g = ResNetGenerator(g_list, width_of(512, width), channels, z_dim, g_norm, head, head_stats, bn_eps(options),
                        inits, upsample)
    d = ResNetDiscriminator(d_list, channels, d_norm, options, inits)
    init_norm_layers(g)
    init_norm_layers(d)
    return g, d


_RESNET = dict(options=(*ARCH_OPTIONS, "g_lrelu"), head="sigmoid", inits=tuple(INITS), upsamples=("unpool", "nearest"))
ARCHITECTURES.register("resnet_cifar")(Architecture("resnet_cifar", build_resnet_cifar, (16, 32, 64), **_RESNET))
ARCHITECTURES.register("resnet19")(Architecture("resnet19", build_resnet19, (128,), **_RESNET))
