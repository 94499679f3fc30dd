"""Normalizers of a network's layers, applied by the architectures.

A normalizer has three hooks that architectures call for every layer and know nothing else
about: ``wrap(layer, last)`` re-parametrises a conv or linear layer's weight, ``feature_norm(c,
eps)`` returns a module placed after a hidden layer, and ``activation(c, default)`` may replace
the hidden nonlinearity. ``last`` marks output layers (Xiang and Li keep a learned affine there).

- ``none``: identity.
- ``bn``: batch normalization (Ioffe and Szegedy 2015) after hidden layers.
- ``ln``: layer normalization (Ba et al. 2016) over (C, H, W) per example with a per-channel
  affine, i.e. GroupNorm with one group; epsilon 1e-12 (compare_gan's ``layer_norm`` is
  ``tf.contrib.layers.layer_norm`` at its default), whatever batch-norm epsilon is asked.
- ``sn``: spectral normalization (Miyato et al. 2018, eq. 8): W_SN = W / sigma(W), sigma from
  one power iteration per training step with a persistent u, conv kernels reshaped to
  (c_out, c_in k k); torch's parametrization implements exactly this. Applied to every layer.
- ``wn``: weight normalization (Salimans and Kingma 2016, eq. 2): w = g v / ||v|| per output
  unit, every layer.
- ``swn``: Xiang and Li (2017): "strict" weight-normalized hidden layers w = v / ||v|| with no
  learned scale and no bias, followed by a translated PReLU y = PReLU(x - b) + b with learned
  per-channel slope and b; output layers are affine weight-normalized (``wn``).
- ``vbn``: virtual batch normalization (Salimans et al. 2016, Sec. 3.4; study/gan/vbn.py), for
  the generator only (``generator_only``): statistics from a fixed reference batch of latents
  and the example itself; ``build_models`` wraps G so that the reference batch runs first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from study.gan.registry import Registry
from study.gan.vbn import VirtualBatchNorm2d

Factory = Callable[[], nn.Module]


@dataclass(frozen=True)
class Normalizer:
    name: str
    wrap: Callable[..., nn.Module]  # (layer, last=False) -> layer
    feature_norm: Callable[..., nn.Module]  # (channels, eps=1e-5) -> module; eps: batch norm's
    activation: Callable[[int, Factory], nn.Module] = lambda channels, default: default()
    generator_only: bool = False  # refused as d_norm (VBN: its reference batch is G's latents)


NORMALIZERS: Registry[Normalizer] = Registry("normalizer")


def _output_dim(layer: nn.Module) -> int:
    """The weight dimension indexing output units (1 for transposed convolutions)."""
    return 1 if isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0


def _identity_wrap(layer: nn.Module, last: bool = False) -> nn.Module:
    return layer


def _no_norm(channels: int, eps: float = 1e-5) -> nn.Module:
    return nn.Identity()


class SpectralNorm(parametrizations._SpectralNorm):
    """torch's spectral-norm parametrization with its power iteration written without ``out=``
    (``F.normalize(..., out=u)`` has no batching rule), so that stacked trials can run it under
    ``torch.func.vmap`` (study/gan/fused/). Same u, v, sigma and state-dict keys as torch's."""

    @torch.no_grad()
    def _power_method(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
        for _ in range(n_power_iterations):
            self._u.copy_(torch.nn.functional.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(torch.nn.functional.normalize(torch.mv(weight_mat.H, self._u), dim=0, eps=self.eps))


def _spectral(layer: nn.Module, last: bool = False) -> nn.Module:
    """``parametrizations.spectral_norm(layer, n_power_iterations=1, eps=1e-12)`` with SpectralNorm."""
    parametrize.register_parametrization(layer, "weight", SpectralNorm(layer.weight, 1, _output_dim(layer), 1e-12))
    return layer


def _weight_norm(layer: nn.Module, last: bool = False) -> nn.Module:
    return parametrizations.weight_norm(layer, dim=_output_dim(layer))


class UnitNorm(nn.Module):
    """Parametrization w = v / ||v||, the norm taken per output unit (no learned scale)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        dims = [d for d in range(v.dim()) if d != self.dim]
        return v / v.norm(2, dim=dims, keepdim=True).clamp_min(1e-12)


class TPReLU(nn.Module):
    """Translated PReLU (Xiang and Li 2017): y = PReLU(x - b) + b, per-channel slope and b."""

    def __init__(self, channels: int, init: float = 0.25) -> None:
        super().__init__()
        self.prelu = nn.PReLU(channels, init)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias.view(1, -1, *([1] * (x.dim() - 2)))
        return self.prelu(x - b) + b


def _strict_weight_norm(layer: nn.Module, last: bool = False) -> nn.Module:
    if last:
        return _weight_norm(layer)
    if getattr(layer, "bias", None) is not None:  # the TPReLU's translation replaces the bias
        layer.bias = None
    parametrize.register_parametrization(layer, "weight", UnitNorm(_output_dim(layer)))
    return layer


LN_EPS = 1e-12


def _layer_norm(channels: int, eps: float = 1e-5) -> nn.Module:
    return nn.GroupNorm(1, channels, eps=LN_EPS)


def _batch_norm(channels: int, eps: float = 1e-5) -> nn.Module:
    return nn.BatchNorm2d(channels, eps=eps)


for _n in (
    Normalizer("none", _identity_wrap, _no_norm),
    Normalizer("bn", _identity_wrap, _batch_norm),
    Normalizer("ln", _identity_wrap, _layer_norm),
    Normalizer("sn", _spectral, _no_norm),
    Normalizer("wn", _weight_norm, _no_norm),
    Normalizer("swn", _strict_weight_norm, _no_norm, lambda channels, default: TPReLU(channels)),
    Normalizer("vbn", _identity_wrap, lambda channels, eps=1e-5: VirtualBatchNorm2d(channels, eps=eps),
               generator_only=True),
):
    NORMALIZERS.register(_n.name)(_n)


def raw_weight(layer: nn.Module) -> torch.Tensor:
    """The trainable weight of a possibly re-parametrised layer (what weight decay acts on)."""
    if parametrize.is_parametrized(layer, "weight"):
        original = layer.parametrizations.weight
        return original.original if hasattr(original, "original") else original.original1
    return layer.weight
