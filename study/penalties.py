"""Penalties added to the discriminator's loss: L_D += lambda * penalty.

- ``none``: no penalty (lambda is ignored and canonicalised to 0 in the trial config).
- ``gp``: WGAN-GP (Gulrajani et al. 2017, eq. 3): x_hat = a x + (1 - a) G(z) with
  a ~ U[0, 1] per example, penalty E[(||grad_x D(x_hat)||_2 - 1)^2].
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from study.registry import Registry

Tensor = torch.Tensor
Penalty = Callable[[nn.Module, Tensor, Tensor, torch.Generator | None], Tensor]

PENALTIES: Registry[Penalty] = Registry("penalty")


@PENALTIES.register("none")
def no_penalty(d: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator | None = None) -> Tensor:
    return real.new_zeros(())


def slope_penalty(d: nn.Module, points: Tensor) -> Tensor:
    """E[(||grad D(points)||_2 - 1)^2], differentiable w.r.t. D's parameters."""
    points = points.detach().requires_grad_(True)
    out = d(points)
    (grad,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


@PENALTIES.register("gp")
def gradient_penalty(d: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator | None = None) -> Tensor:
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=gen, device=real.device, dtype=real.dtype)
    return slope_penalty(d, alpha * real.detach() + (1.0 - alpha) * fake.detach())
