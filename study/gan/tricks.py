"""Training-loop tricks (the models' ones are in study/gan/models: minibatch.py, surgery.py,
conditional.py, and study/gan/vbn.py).

- Feature matching (Salimans et al. 2016, Sec. 3.1): G minimises ||E_x f(x) - E_z f(G(z))||_2^2,
  f an intermediate layer of D (here D's ``features``, the input of its output layer), the
  expectations taken over the batch. ``feature_matching`` = w mixes: L_G = (1 - w) L_loss + w L_FM
  (w = 1: the paper's objective alone).
- Historical averaging (Salimans et al. 2016, Sec. 3.3): each player's loss gets
  ||theta - (1/t) sum_{i=1}^t theta[i]||^2, theta[i] the parameters after update i (theta[0]
  the initial ones counted too), weighted by ``historical_averaging``.
- Noisy and flipped labels for D ("Tips for training stable GANs", tips 6 and 13; Salimans et al.
  Sec. 3.4 for the smoothing they generalise): ``label_noise`` draws each real target from
  U[0.7, 1.2] and each fake one from U[0, 0.3]; ``label_flip`` = p swaps the targets of each
  example with probability p. D then minimises the cross-entropy with these targets,
  t softplus(-D) + (1 - t) softplus(D), on logits clipped to +-16.12 (probabilities in
  [1e-7, 1 - 1e-7], as Keras clips them) so that a target above 1 cannot drive the loss to -inf.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor
REAL_NOISE, FAKE_NOISE = (0.7, 1.2), (0.0, 0.3)
LOGIT_CLIP = 16.118095  # log((1 - 1e-7) / 1e-7)


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """||mean(real_features) - mean(fake_features)||^2 over the batch; the real side is constant."""
    diff = real_features.detach().flatten(1).mean(0) - fake_features.flatten(1).mean(0)
    return (diff * diff).sum()


class HistoricalAverage:
    """The running mean (1/t) sum_i theta[i] of a module's trainable parameters and the penalty
    ||theta - mean||^2 (summed over every parameter tensor)."""

    def __init__(self, module: nn.Module) -> None:
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.mean = [p.detach().clone() for p in self.params]
        self.count = 1  # theta[0], the initialisation

    def penalty(self) -> Tensor:
        return sum(((p - m) ** 2).sum() for p, m in zip(self.params, self.mean))

    @torch.no_grad()
    def update(self) -> None:
        self.count += 1
        for p, m in zip(self.params, self.mean):
            m.add_((p.detach() - m) / self.count)

    def state_dict(self) -> dict:
        return {"mean": [m.clone() for m in self.mean], "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        for m, saved in zip(self.mean, state["mean"]):
            m.copy_(saved)
        self.count = int(state["count"])


def label_targets(n: int, noise: bool, flip: float, smoothing: float, gen: torch.Generator,
                  device: torch.device, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """D's targets for n real and n fake examples: 1 - smoothing and 0, or U[0.7, 1.2] and
    U[0, 0.3] with ``noise``; then each example's pair swapped with probability ``flip``."""
    if noise:
        real = (REAL_NOISE[0]
                + (REAL_NOISE[1] - REAL_NOISE[0]) * torch.rand(n, generator=gen, device=device, dtype=dtype))
        fake = (FAKE_NOISE[0]
                + (FAKE_NOISE[1] - FAKE_NOISE[0]) * torch.rand(n, generator=gen, device=device, dtype=dtype))
    else:
        real = torch.full((n,), 1.0 - smoothing, device=device, dtype=dtype)
        fake = torch.zeros(n, device=device, dtype=dtype)
    if flip:
        swap = torch.rand(n, generator=gen, device=device) < flip
        real, fake = torch.where(swap, fake, real), torch.where(swap, real, fake)
    return real, fake


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """mean of t softplus(-x) + (1 - t) softplus(x), x clipped to +-LOGIT_CLIP."""
    x = logits.clamp(-LOGIT_CLIP, LOGIT_CLIP)
    return (target * F.softplus(-x) + (1.0 - target) * F.softplus(x)).mean()


def target_d_loss(real: Tensor, fake: Tensor, real_target: Tensor, fake_target: Tensor) -> Tensor:
    return cross_entropy(real, real_target.to(real.dtype)) + cross_entropy(fake, fake_target.to(fake.dtype))

