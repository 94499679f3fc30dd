"""Building blocks shared by the architectures."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from study.gan.normalizers import Normalizer

Init = Callable[[torch.Tensor], object]

ARCH_OPTIONS = ("skip", "cin", "opt", "sum", "eps")  # Kurach et al. 2019, ResNet ablation (Sec. 5)
BN_EPS_DEFAULT, BN_EPS_ABLATION = 1e-5, 2e-5
# The tips' architecture switches ("Tips for training stable GANs"; Radford et al. 2016, Sec. 3):
# g_lrelu: LeakyReLU(0.2) for every ReLU of G (models/surgery.py); d_avgpool: D downsamples by a
# 3x3 stride-1 conv then 2x2 average pooling instead of a 4x4 stride-2 conv.
TRICK_OPTIONS = ("g_lrelu", "d_avgpool")


def normal_init(std: float = 0.02) -> Init:
    return lambda w: nn.init.normal_(w, 0.0, std)


def truncated_normal_init(std: float = 0.02) -> Init:
    """TensorFlow's ``truncated_normal_initializer(stddev)``: N(0, std) redrawn outside +-2 std
    (compare_gan v2's ``ops.conv2d`` default); the result's std is 0.8796 std."""
    return lambda w: nn.init.trunc_normal_(w, 0.0, std, -2.0 * std, 2.0 * std)


def xavier_init(gain: float = 1.0) -> Init:
    return lambda w: nn.init.xavier_uniform_(w, gain=gain)


def normed(norm: Normalizer, layer: nn.Module, init: Init, last: bool = False) -> nn.Module:
    """Initialise ``layer`` (weight by ``init``, zero bias), then let the normalizer wrap it.

    Initialising first matters: spectral norm runs its power iterations and weight norm sets
    g = ||v|| when they wrap the layer.
    """
    init(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return norm.wrap(layer, last=last)


def down_conv(norm: Normalizer, cin: int, cout: int, init: Init, avgpool: bool) -> list[nn.Module]:
    """A x2 downsampling conv: 4x4 stride 2 (padding 1), or 3x3 stride 1 then 2x2 average pooling."""
    if avgpool:
        return [normed(norm, nn.Conv2d(cin, cout, 3, 1, 1), init), nn.AvgPool2d(2)]
    return [normed(norm, nn.Conv2d(cin, cout, 4, 2, 1), init)]


def width_of(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def bn_eps(options: frozenset[str]) -> float:
    """The generator's batch-norm epsilon: the ``eps`` switch of Kurach et al. (Sec. 5) acts on
    G's batch norm only, as in compare_gan; D's normalizers keep their own epsilon."""
    return BN_EPS_ABLATION if "eps" in options else BN_EPS_DEFAULT


def unpool(x: torch.Tensor) -> torch.Tensor:
    """Zero-insertion unpooling (Dosovitskiy et al. 2015), compare_gan v2's ResNet upsampling:
    (N, C, H, W) -> (N, C, 2H, 2W) with x[i, j] at (2i, 2j) and zeros elsewhere."""
    row = torch.stack((x, torch.zeros_like(x)), dim=-1).flatten(-2)  # x at even columns
    return torch.stack((row, torch.zeros_like(row)), dim=-2).flatten(-3, -2)  # rows at even rows


def nearest_upsample(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsampling (the SN-GAN code's ResNet generator)."""
    return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


UPSAMPLERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"unpool": unpool, "nearest": nearest_upsample}


def init_norm_layers(module: nn.Module, std: float | None = None) -> None:
    """BN/GN scales to 1 (or N(1, std) as in DCGAN), shifts to 0; output heads keep their own."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine and not getattr(m, "head_initialised", False):
            if std is None:
                nn.init.ones_(m.weight)
            else:
                nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
