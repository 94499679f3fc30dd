"""GAN losses on the discriminator's raw outputs (logits).

Each loss gives ``d_loss(real, fake)`` and ``g_loss(fake)``, means over the batch, both to be
minimised. Names follow Kurach et al. 2019 (section 2.1) and compare_gan:

- ``ns``  non-saturating (Goodfellow et al. 2014): L_D = -log s(D(x)) - log(1 - s(D(G(z)))),
  L_G = -log s(D(G(z))), with s the logistic sigmoid; computed with softplus for stability.
- ``mm``  minimax: same L_D, L_G = log(1 - s(D(G(z)))).
- ``wgan`` Wasserstein (Arjovsky et al. 2017): L_D = -D(x) + D(G(z)), L_G = -D(G(z)).
- ``hinge`` (Miyato et al. 2018, eq. 17): L_D = relu(1 - D(x)) + relu(1 + D(G(z))),
  L_G = -D(G(z)).
- ``ls_sigmoid`` least squares as compare_gan computes it, and so Kurach et al.'s "LS" (the
  ``LS`` rows of their best-model table): L_D = ((s(D(x)) - 1)^2 + s(D(G(z)))^2) / 2,
  L_G = (s(D(G(z))) - 1)^2 / 2.
- ``ls_raw`` least squares on the raw output (Mao et al. 2017, a=0, b=c=1): the same formulas
  on D itself.

``ls`` meant ``ls_raw`` before it was clear that the paper's LS is ``ls_sigmoid``; the name is
refused, with that explanation, rather than silently changing meaning.

One-sided label smoothing (Salimans et al. 2016) is defined for the cross-entropy losses
(``ns``, ``mm``): the real target becomes 1 - s, i.e. the real term is
(1 - s) softplus(-D(x)) + s softplus(D(x)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from study.gan.registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class Loss:
    name: str
    d_loss: Callable[..., Tensor]  # (real, fake, smoothing=0.0)
    g_loss: Callable[[Tensor], Tensor]
    smoothing: bool = False  # whether one-sided label smoothing is defined for this loss


LOSSES: Registry[Loss] = Registry("loss")


def _add(name: str, d_loss: Callable[..., Tensor], g_loss: Callable[[Tensor], Tensor], smoothing: bool = False) -> None:
    LOSSES.register(name)(Loss(name, d_loss, g_loss, smoothing))


def _ns_d(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f)
    real_term = F.softplus(-real) if smoothing == 0.0 else (1.0 - smoothing) * F.softplus(-real) + smoothing * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def _no_smoothing(d_loss: Callable[[Tensor, Tensor], Tensor]) -> Callable[..., Tensor]:
    def wrapped(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
        if smoothing:
            raise ValueError("label_smoothing: only defined for the ns and mm losses")
        return d_loss(real, fake)

    return wrapped


_add("ns", _ns_d, lambda fake: F.softplus(-fake).mean(), smoothing=True)
_add("mm", _ns_d, lambda fake: -F.softplus(fake).mean(), smoothing=True)
_add("wgan", _no_smoothing(lambda real, fake: fake.mean() - real.mean()), lambda fake: -fake.mean())
_add(
    "hinge",
    _no_smoothing(lambda real, fake: F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()),
    lambda fake: -fake.mean(),
)
_add(
    "ls_raw",
    _no_smoothing(lambda real, fake: 0.5 * (((real - 1.0) ** 2).mean() + (fake**2).mean())),
    lambda fake: 0.5 * ((fake - 1.0) ** 2).mean(),
)
_add(
    "ls_sigmoid",
    _no_smoothing(lambda real, fake: 0.5 * (((torch.sigmoid(real) - 1.0) ** 2).mean() + (torch.sigmoid(fake) ** 2).mean())),
    lambda fake: 0.5 * ((torch.sigmoid(fake) - 1.0) ** 2).mean(),
)
LOSSES.retire("ls", "write ls_sigmoid for Kurach et al.'s and compare_gan's least squares (on sigmoid(D)), "
                   "or ls_raw for Mao et al.'s on the raw output (what 'ls' used to mean)")
