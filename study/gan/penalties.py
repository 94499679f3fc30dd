"""Penalties added to the discriminator's loss: L_D += lambda * penalty.

Each entry knows whether it is active (``none`` is not: its lambda is canonicalised to 0 in the
trial config and the trial skips it) and the lambda range Kurach et al. (Table 2) search for it.

- ``none``: no penalty (lambda is ignored and canonicalised to 0 in the trial config).
- ``gp``: WGAN-GP (Gulrajani et al. 2017, eq. 3): x_hat = a x + (1 - a) G(z) with
  a ~ U[0, 1] per example; penalty E[(s - 1)^2] with the slope s = sqrt(1e-4 + ||grad_x
  D(x_hat)||^2) as compare_gan computes it (the 1e-4 keeps the square root differentiable at 0).
- ``dragan``: DRAGAN (Kodali et al. 2017) as compare_gan computes it: the same slope penalty
  at x_hat = clip(x + std(x) * (u - 0.5)), u ~ U[0, 1) per element, std the biased standard
  deviation over the whole real batch (``tf.nn.moments``), clipped to the data range.

The gradients are taken with respect to the images in the data range of the generator head
(compare_gan: [0, 1]); an architecture that rescales its input (compare_gan's SNDCGAN maps x
to 2x - 1) rescales the gradient with it.
- ``l2``: weight decay on D as compare_gan defines it: the mean over D's conv and linear layers
  of sum(W^2) / 2, biases and normalizer parameters excluded; W is the trainable weight.
- ``ortho``: orthonormal regularization (Brock et al. 2017, as in Miyato et al. 2018):
  sum over D's layers of ||W W^T - I||_F^2 for W reshaped to (c_out, c_in k k), using the
  smaller of W W^T and W^T W so that the target is reachable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from study.gan.normalizers import raw_weight
from study.gan.registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class PenaltyInputs:
    d: nn.Module
    real: Tensor
    fake: Tensor
    gen: torch.Generator | None = None
    low: float = -1.0  # the data range (the generator head's)
    high: float = 1.0


Points = Callable[[Tensor, Tensor, "torch.Generator | None", float, float], Tensor]


@dataclass(frozen=True)
class Penalty:
    """A registered penalty: its function, whether it is active, and its BO lambda range.

    ``points``: for a slope penalty, where the gradient norm is taken, ``(real, fake, gen, low,
    high) -> points``; a fused group (study/gan/fused/) draws them member by member and takes
    every member's slopes in one batched double backward."""

    fn: Callable[[PenaltyInputs], Tensor]
    active: bool = True
    lambda_range: tuple[float, float] | None = (1e-1, 1e2)  # Kurach et al. Table 2, log scale
    points: Points | None = None

    def __call__(self, x: PenaltyInputs) -> Tensor:
        return self.fn(x)


PENALTIES: Registry[Penalty] = Registry("penalty")
WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def register(name: str, active: bool = True, lambda_range: tuple[float, float] | None = (1e-1, 1e2),
             points: Points | None = None):
    def add(fn: Callable[[PenaltyInputs], Tensor]) -> Callable[[PenaltyInputs], Tensor]:
        PENALTIES.register(name)(Penalty(fn, active, lambda_range if active else None, points))
        return fn

    return add


@register("none", active=False)
def no_penalty(x: PenaltyInputs) -> Tensor:
    return x.real.new_zeros(())


SLOPE_EPS = 1e-4  # compare_gan v2 gans_with_penalty: tf.sqrt(0.0001 + tf.reduce_sum(tf.square(g), ...))


def slope_penalty(d: Callable[[Tensor], Tensor], points: Tensor, batch_dims: int = 1) -> Tensor:
    """E[(sqrt(1e-4 + ||grad D(points)||^2) - 1)^2], differentiable w.r.t. D's parameters.

    ``batch_dims`` 2: ``points`` is (members, batch, ...) and ``d`` a stacked D; one value per
    member. The gradient of the summed outputs is each example's own (examples and members are
    independent up to batch norm, which the single-trial form shares)."""
    points = points.detach().requires_grad_(True)
    out = d(points)
    (grad,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    slopes = torch.sqrt(SLOPE_EPS + grad.flatten(batch_dims).pow(2).sum(-1))
    return ((slopes - 1.0) ** 2).mean(-1)


def interpolates(real: Tensor, fake: Tensor, gen: torch.Generator | None, low: float, high: float) -> Tensor:
    """WGAN-GP's x_hat = a x + (1 - a) G(z), a ~ U[0, 1] per example."""
    real = real.detach()
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=gen, device=real.device, dtype=real.dtype)
    return alpha * real + (1.0 - alpha) * fake.detach()


def dragan_points(real: Tensor, fake: Tensor, gen: torch.Generator | None, low: float, high: float) -> Tensor:
    """DRAGAN's x + std(x) (u - 0.5), u ~ U[0, 1) per element, clipped to the data range."""
    real = real.detach()
    u = torch.rand(real.shape, generator=gen, device=real.device, dtype=real.dtype)
    return (real + real.std(correction=0) * (u - 0.5)).clamp(low, high)


@register("gp", points=interpolates)
def gradient_penalty(x: PenaltyInputs) -> Tensor:
    return slope_penalty(x.d, interpolates(x.real, x.fake, x.gen, x.low, x.high))


@register("dragan", points=dragan_points)
def dragan_penalty(x: PenaltyInputs) -> Tensor:
    return slope_penalty(x.d, dragan_points(x.real, x.fake, x.gen, x.low, x.high))


def weight_matrices(d: nn.Module) -> list[Tensor]:
    return [raw_weight(m) for m in d.modules() if isinstance(m, WEIGHTED)]


@register("l2", lambda_range=(1e-4, 1e1))
def l2_penalty(x: PenaltyInputs) -> Tensor:
    terms = [0.5 * (w**2).sum() for w in weight_matrices(x.d)]
    return torch.stack(terms).mean() if terms else x.real.new_zeros(())


@register("ortho")
def orthonormal_penalty(x: PenaltyInputs) -> Tensor:
    total = x.real.new_zeros(())
    for w in weight_matrices(x.d):
        m = w.reshape(w.shape[0], -1)
        gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
        total = total + ((gram - torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype)) ** 2).sum()
    return total
