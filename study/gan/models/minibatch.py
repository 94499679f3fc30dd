"""Discriminator layers that look at the whole minibatch (``d_minibatch``), against mode collapse.

Every discriminator here is ``features(x)`` (N, A) followed by its linear output layer ``fc``;
a minibatch layer goes between them: ``fc`` is rebuilt for A + extra inputs.

- ``none``: nothing.
- ``stddev``: the minibatch standard deviation (Karras et al. 2018, Sec. 3): the standard
  deviation over the batch of every feature at every position (biased, sqrt(var + 1e-8) as in
  their code), averaged over features and positions into one value, appended as one constant
  channel. On the flattened map a constant channel reaches the linear output layer only through
  the sum of its weights, so it is appended as one feature.
- ``discrimination``: minibatch discrimination (Salimans et al. 2016, Sec. 3.2): M_i = f(x_i) T
  with T in R^{A x B x C}; c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_L1);
  o(x_i)_b = sum_j c_b(x_i, x_j) (j = i included, as in the paper); [f(x_i), o(x_i)] goes on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from study.gan.registry import Registry

STDDEV_EPS = 1e-8
MBD_KERNELS, MBD_DIMS = 32, 8  # B and C


class MinibatchStdDev(nn.Module):
    extra = 1

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        std = torch.sqrt(f.flatten(1).var(0, unbiased=False) + STDDEV_EPS).mean()
        return torch.cat([f.flatten(1), std.expand(f.shape[0], 1)], 1)


class MinibatchDiscrimination(nn.Module):
    def __init__(self, in_features: int, kernels: int = MBD_KERNELS, dims: int = MBD_DIMS) -> None:
        super().__init__()
        self.kernels, self.dims, self.extra = kernels, dims, kernels
        self.T = nn.Parameter(torch.randn(in_features, kernels * dims) * 0.05)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f = f.flatten(1)
        m = (f @ self.T).view(-1, self.kernels, self.dims)  # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # (N, N, B)
        return torch.cat([f, torch.exp(-l1).sum(1)], 1)


@dataclass(frozen=True)
class Minibatch:
    name: str
    make: Callable[[int], nn.Module] | None  # in_features -> layer with ``extra`` outputs; None: off


MINIBATCH: Registry[Minibatch] = Registry("minibatch layer")
for _m in (Minibatch("none", None), Minibatch("stddev", lambda a: MinibatchStdDev()),
           Minibatch("discrimination", MinibatchDiscrimination)):
    MINIBATCH.register(_m.name)(_m)


class MinibatchOutput(nn.Module):
    """The minibatch layer then the (rebuilt) linear output layer: D's new ``fc``."""

    def __init__(self, layer: nn.Module, fc: nn.Module) -> None:
        super().__init__()
        self.layer, self.linear = layer, fc

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.linear(self.layer(f))


def add_minibatch_layer(d: nn.Module, name: str, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """Put ``name``'s layer before ``d.fc``; ``wrap`` initialises and normalizes the new output
    layer as the architecture does its own."""
    entry = MINIBATCH.get(name, "d_minibatch")
    if entry.make is None:
        return d
    old = d.fc
    in_features = old.in_features if hasattr(old, "in_features") else old.weight.shape[1]
    layer = entry.make(in_features)
    d.fc = MinibatchOutput(layer, wrap(nn.Linear(in_features + layer.extra, 1)))
    return d
