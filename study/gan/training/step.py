"""One member's training step: ``n_critic`` D steps, then one G step, every trick included.

This is the step every trial takes, alone or in a group, on every device; the batched executor
(study/gan/fused/) computes the same for the tricks it can batch. Each member draws batches,
latents, labels, noise and penalty points from its own generator, in this order:

D step: real batch (and labels), z, instance noise on real then fake, label targets (noisy or
flipped labels), the penalty's points. G step: labels, z, instance noise, a real batch for
feature matching and its noise.
"""
from __future__ import annotations

from typing import Iterator

import torch

from study.gan.models.conditional import conditioned
from study.gan.penalties import PenaltyInputs
from study.gan.training.build import Shared
from study.gan.training.member import Member
from study.gan.training.schedule import sample_z
from study.gan.tricks import feature_matching_loss, label_targets, target_d_loss

Tensor = torch.Tensor


def noisy(m: Member, x: Tensor, std: float) -> Tensor:
    """Instance noise (Sonderby et al. 2016; Arjovsky and Bottou 2017): x + N(0, std^2)."""
    return x if std == 0.0 else x + std * torch.randn(x.shape, generator=m.gen, device=x.device, dtype=x.dtype)


def next_batch(shared: Shared, m: Member) -> tuple[Tensor, Tensor | None]:
    bs = m.cfg.batch_size
    if shared.labels is not None:
        return m.train.next_labeled(bs, m.gen, shared.labels)
    return m.train.next(bs, m.gen), None


def sample_labels(shared: Shared, m: Member) -> Tensor | None:
    """G's classes: drawn from the training labels, so in the data's proportion."""
    if shared.labels is None:
        return None
    return shared.labels[torch.randint(0, len(shared.labels), (m.cfg.batch_size,), generator=m.gen,
                                       device=shared.device)]


def generate(m: Member, z: Tensor, y: Tensor | None) -> Tensor:
    return m.g(z) if y is None else m.g(z, y)


def d_loss(shared: Shared, m: Member, real_in: Tensor, fake_in: Tensor) -> Tensor:
    """L_D: the loss (or the cross-entropy on noisy / flipped targets), its penalty, and
    historical averaging's term (Salimans et al. 2016, 3.3)."""
    cfg = m.cfg
    if cfg.label_noise or cfg.label_flip:
        targets = label_targets(cfg.batch_size, cfg.label_noise, cfg.label_flip, cfg.label_smoothing, m.gen,
                                shared.device)
        value = target_d_loss(m.d(real_in), m.d(fake_in), *targets)
    else:
        value = shared.loss.d_loss(m.d(real_in), m.d(fake_in), cfg.label_smoothing)
    if shared.penalty.active:
        inputs = PenaltyInputs(m.d, real_in, fake_in, m.gen, shared.head.low, shared.head.high)
        value = value + cfg.penalty_lambda * shared.penalty(inputs).to(value.dtype)
    if m.hist is not None:
        value = value + cfg.historical_averaging * m.hist[0].penalty().to(value.dtype)
    return value


def d_step(shared: Shared, m: Member, noise: float) -> None:
    """One D step (Goodfellow et al. 2014, Algorithm 1's inner loop) with Adam."""
    real, y = next_batch(shared, m)
    z = sample_z(m.cfg.batch_size, m.cfg.z_dim, m.cfg.z_dist, m.gen, shared.device)
    with shared.autocast(), conditioned(m.d, y):
        with torch.no_grad():
            fake = generate(m, z, y)
        m.d_val = d_loss(shared, m, noisy(m, real, noise), noisy(m, fake, noise))
    m.opt_d.zero_grad(set_to_none=True)
    m.d_val.backward()
    m.opt_d.step()
    if m.hist is not None:
        m.hist[0].update()


def g_loss(shared: Shared, m: Member, fake_in: Tensor, noise: float) -> Tensor:
    """L_G, or (1 - w) L_G + w L_FM with feature matching (Salimans et al. 2016, 3.1)."""
    w = m.cfg.feature_matching
    adversarial = shared.loss.g_loss(m.d(fake_in)) if w < 1 else None
    if w == 0:
        return adversarial
    real, _ = next_batch(shared, m)
    with torch.no_grad():
        real_features = m.d.features(noisy(m, real, noise))
    fm = feature_matching_loss(real_features, m.d.features(fake_in))
    return fm if adversarial is None else (1 - w) * adversarial + w * fm


def g_step(shared: Shared, m: Member, noise: float) -> None:
    """One G step with Adam, then the historical average and the EMA of G."""
    cfg = m.cfg
    with shared.autocast():
        y = sample_labels(shared, m)
        fake_in = noisy(m, generate(m, sample_z(cfg.batch_size, cfg.z_dim, cfg.z_dist, m.gen, shared.device), y), noise)
        with conditioned(m.d, y):
            value = g_loss(shared, m, fake_in, noise)
        if m.hist is not None:
            value = value + cfg.historical_averaging * m.hist[1].penalty().to(value.dtype)
    m.g_val = value
    m.opt_g.zero_grad(set_to_none=True)
    value.backward()
    m.opt_g.step()
    if m.hist is not None:
        m.hist[1].update()
    if m.g_eval is not None:
        m.g_eval.update_parameters(m.g)


def iterate(shared: Shared, m: Member, plan: list[tuple[int, float, int]]) -> Iterator[None]:
    """Member ``m`` through ``plan`` ((n_critic, instance noise, step after) per G iteration), in
    its own random state; yields after each iteration (its losses are then ``m.d_val``, ``m.g_val``)."""
    with m.own_rng():
        for n_critic, noise, _ in plan:
            for _ in range(n_critic):
                d_step(shared, m, noise)
            g_step(shared, m, noise)
            yield
