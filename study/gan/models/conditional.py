"""Class-conditional GANs (``conditional: true``): conditional batch norm in G and the
projection discriminator, wrapped around any registered architecture.

- Conditional batch normalization (Dumoulin et al. 2017, eq. 3; de Vries et al. 2017):
  y = gamma_k (x - mu) / sqrt(var + eps) + beta_k for an example of class k, the batch
  statistics shared and (gamma_k, beta_k) one learned row per class (initialised to 1 and 0).
  ``ConditionalGenerator`` replaces every batch norm of G by one and sets the labels for a call.
- Projection discriminator (Miyato and Koyama 2018, eq. 3): D(x, y) = psi(phi(x)) + y^T V phi(x),
  phi = D's ``features``, psi = its linear output layer ``fc`` (with any minibatch layer), and
  V an embedding of the classes, normalized as D's other layers are (spectral norm under SN).

Both take the labels as a second argument; ``conditioned(d, y)`` sets the labels a
discriminator uses when called with images only (the penalties do so).
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

from study.gan.models.minibatch import MinibatchOutput


class ConditionalBatchNorm2d(nn.Module):
    def __init__(self, channels: int, classes: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, momentum=momentum, affine=False)
        self.gamma = nn.Embedding(classes, channels)
        self.beta = nn.Embedding(classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)
        self.labels: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.labels is None:
            raise RuntimeError("conditional batch norm called without class labels")
        shape = (x.shape[0], -1, 1, 1)
        return self.bn(x) * self.gamma(self.labels).view(shape) + self.beta(self.labels).view(shape)


def _to_conditional(module: nn.Module, classes: int) -> int:
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d) and not getattr(child, "head_initialised", False):
            setattr(module, name, ConditionalBatchNorm2d(child.num_features, classes, child.eps, child.momentum))
            count += 1
        else:
            count += _to_conditional(child, classes)
    return count


class ConditionalGenerator(nn.Module):
    """G(z, y): the wrapped generator with conditional batch norm in place of its batch norms."""

    def __init__(self, generator: nn.Module, classes: int) -> None:
        super().__init__()
        if not _to_conditional(generator, classes):
            raise ValueError("conditional: the generator has no batch norm to condition (use g_norm: bn)")
        self.generator, self.classes = generator, classes
        self.layers = [m for m in generator.modules() if isinstance(m, ConditionalBatchNorm2d)]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for m in self.layers:
            m.labels = y
        try:
            return self.generator(z)
        finally:
            for m in self.layers:
                m.labels = None


class ProjectionDiscriminator(nn.Module):
    def __init__(self, discriminator: nn.Module, classes: int, wrap: Callable[[nn.Module], nn.Module]) -> None:
        super().__init__()
        dim = _in_features(discriminator.fc)
        self.discriminator, self.classes = discriminator, classes
        self.embed = wrap(nn.Embedding(classes, dim))
        self.labels: torch.Tensor | None = None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator.features(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = self.labels if y is None else y
        if y is None:
            raise RuntimeError("projection discriminator called without class labels")
        h = self.discriminator.features(x)
        return self.discriminator.fc(h).squeeze(1) + (self.embed(y) * h).sum(1)


def _in_features(fc: nn.Module) -> int:
    """The width of phi(x): the output layer's inputs, less those a minibatch layer adds."""
    if isinstance(fc, MinibatchOutput):
        return fc.linear.in_features - fc.layer.extra
    return fc.in_features


@contextlib.contextmanager
def conditioned(d: nn.Module, y: torch.Tensor | None):
    """Within: ``d(x)`` means D(x, y) (a no-op for an unconditional D or y None)."""
    if y is None or not isinstance(d, ProjectionDiscriminator):
        yield d
        return
    d.labels = y
    try:
        yield d
    finally:
        d.labels = None

