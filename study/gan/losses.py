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


def _refuse_smoothing(smoothing: float) -> None:
    if smoothing:
        raise ValueError("label_smoothing: only defined for the ns and mm losses")


def ns_d(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """L_D = -log s(D(x)) - log(1 - s(D(G(z)))) (Goodfellow et al. 2014, eq. 1), real target
    1 - smoothing (Salimans et al. 2016)."""
    # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f)
    real_term = (F.softplus(-real) if smoothing == 0.0
                 else (1.0 - smoothing) * F.softplus(-real) + smoothing * F.softplus(real))
    return real_term.mean() + F.softplus(fake).mean()


def ns_g(fake: Tensor) -> Tensor:
    """L_G = -log s(D(G(z))), the non-saturating generator loss (Goodfellow et al. 2014, Sec. 3)."""
    return F.softplus(-fake).mean()


def mm_g(fake: Tensor) -> Tensor:
    """L_G = log(1 - s(D(G(z)))), the minimax generator loss (Goodfellow et al. 2014, eq. 1)."""
    return -F.softplus(fake).mean()


def wgan_d(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """L_D = -D(x) + D(G(z)) (Arjovsky et al. 2017, eq. 3)."""
    _refuse_smoothing(smoothing)
    return fake.mean() - real.mean()


def wgan_g(fake: Tensor) -> Tensor:
    """L_G = -D(G(z)) (Arjovsky et al. 2017, eq. 3)."""
    return -fake.mean()


def hinge_d(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """L_D = relu(1 - D(x)) + relu(1 + D(G(z))) (Miyato et al. 2018, Sec. 4)."""
    _refuse_smoothing(smoothing)
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: Tensor) -> Tensor:
    """L_G = -D(G(z)) (Miyato et al. 2018, Sec. 4)."""
    return -fake.mean()


def ls_raw_d(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """L_D = ((D(x) - 1)^2 + D(G(z))^2) / 2 (Mao et al. 2017, eq. 2 with a = 0, b = c = 1)."""
    _refuse_smoothing(smoothing)
    return 0.5 * (((real - 1.0) ** 2).mean() + (fake**2).mean())


def ls_raw_g(fake: Tensor) -> Tensor:
    """L_G = (D(G(z)) - 1)^2 / 2 (Mao et al. 2017, eq. 2 with c = 1)."""
    return 0.5 * ((fake - 1.0) ** 2).mean()


def ls_sigmoid_d(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """L_D = ((s(D(x)) - 1)^2 + s(D(G(z)))^2) / 2 (Kurach et al. 2019, Sec. 2.1; compare_gan)."""
    _refuse_smoothing(smoothing)
    return 0.5 * (((torch.sigmoid(real) - 1.0) ** 2).mean() + (torch.sigmoid(fake) ** 2).mean())


def ls_sigmoid_g(fake: Tensor) -> Tensor:
    """L_G = (s(D(G(z))) - 1)^2 / 2 (Kurach et al. 2019, Sec. 2.1; compare_gan)."""
    return 0.5 * ((torch.sigmoid(fake) - 1.0) ** 2).mean()


_add("ns", ns_d, ns_g, smoothing=True)
_add("mm", ns_d, mm_g, smoothing=True)  # the minimax game's D loss is the non-saturating one
_add("wgan", wgan_d, wgan_g)
_add("hinge", hinge_d, hinge_g)
_add("ls_raw", ls_raw_d, ls_raw_g)
_add("ls_sigmoid", ls_sigmoid_d, ls_sigmoid_g)
LOSSES.retire("ls", "write ls_sigmoid for Kurach et al.'s and compare_gan's least squares (on sigmoid(D)), "
                   "or ls_raw for Mao et al.'s on the raw output (what 'ls' used to mean)")
