"""Virtual batch normalization (Salimans et al. 2016, "Improved Techniques for Training GANs",
Sec. 3.4), a generator normalizer (``g_norm: vbn``).

Each example x is normalized with statistics "collected on a reference batch of examples that
are chosen once and fixed at the start of training, and on x itself": with the reference
batch's per-channel mean mu_R and second moment m2_R (over its n examples and all positions)
and x's own per-channel mean mu_x and second moment m2_x (over its positions),

    mu = (n mu_R + mu_x) / (n + 1),  var = (n m2_R + m2_x) / (n + 1) - mu^2,
    y = gamma (x - mu) / sqrt(var + eps) + beta,

so an example's output never depends on the other examples of its batch. The reference
statistics come from a forward pass of the fixed reference latents just before each pass of
the real batch (``ReferenceBatch``, which wraps the generator); gradients flow through both,
as in the paper. A layer used outside such a wrapper (no reference captured) falls back to its
own batch's statistics, i.e. batch normalization.
"""
from __future__ import annotations

import torch
from torch import nn


class VirtualBatchNorm2d(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.capturing = False
        self.reference: tuple[torch.Tensor, torch.Tensor, int] | None = None  # (mu_R, m2_R, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = (0, 2, 3)
        if self.capturing or self.reference is None:
            mu, m2 = x.mean(dims), (x * x).mean(dims)
            if self.capturing:
                self.reference = (mu, m2, x.shape[0])
            mu, m2 = mu.view(1, -1, 1, 1), m2.view(1, -1, 1, 1)
        else:
            mu_r, m2_r, n = self.reference
            mu = (n * mu_r.view(1, -1, 1, 1) + x.mean((2, 3), keepdim=True)) / (n + 1)
            m2 = (n * m2_r.view(1, -1, 1, 1) + (x * x).mean((2, 3), keepdim=True)) / (n + 1)
        var = (m2 - mu * mu).clamp_min(0.0)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def vbn_layers(module: nn.Module) -> list[VirtualBatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, VirtualBatchNorm2d)]


class ReferenceBatch(nn.Module):
    """Wraps a generator with VBN layers: every call first runs the fixed reference latents
    ``z_ref`` (a buffer, saved with the model) to capture each layer's reference statistics,
    then the given batch (unconditional generators only: conditional ones use conditional BN)."""

    def __init__(self, generator: nn.Module, z_ref: torch.Tensor) -> None:
        super().__init__()
        self.generator = generator
        self.register_buffer("z_ref", z_ref.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        layers = vbn_layers(self.generator)
        for m in layers:
            m.capturing, m.reference = True, None
        try:
            self.generator(self.z_ref.to(z.dtype))
        finally:
            for m in layers:
                m.capturing = False
        try:
            return self.generator(z)
        finally:
            for m in layers:
                m.reference = None
