"""Normalizers of a network's layers, applied by the architectures.

A normalizer has two hooks: ``wrap(layer)`` re-parametrises a conv or linear layer's weight
(spectral norm), and ``feature_norm(channels)`` returns a module placed after the layer (batch
norm). Architectures call both for every hidden layer and know nothing else about them.

- ``none``: identity.
- ``bn``: batch normalization (Ioffe and Szegedy 2015) after the layer.
- ``sn``: spectral normalization (Miyato et al. 2018, eq. 8): W_SN = W / sigma(W), sigma
  estimated by one power iteration per training step with a persistent vector u, conv kernels
  reshaped to (c_out, c_in * k * k); torch's parametrization implements exactly this.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn
from torch.nn.utils import parametrizations

from study.registry import Registry


@dataclass(frozen=True)
class Normalizer:
    name: str
    wrap: Callable[[nn.Module], nn.Module]
    feature_norm: Callable[[int], nn.Module]


NORMALIZERS: Registry[Normalizer] = Registry("normalizer")


def _identity_wrap(layer: nn.Module) -> nn.Module:
    return layer


def _no_norm(channels: int) -> nn.Module:
    return nn.Identity()


def _spectral(layer: nn.Module) -> nn.Module:
    return parametrizations.spectral_norm(layer, n_power_iterations=1, eps=1e-12)


NORMALIZERS.register("none")(Normalizer("none", _identity_wrap, _no_norm))
NORMALIZERS.register("bn")(Normalizer("bn", _identity_wrap, nn.BatchNorm2d))
NORMALIZERS.register("sn")(Normalizer("sn", _spectral, _no_norm))
