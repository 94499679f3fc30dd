"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML), from the features FID uses.

Only the real points' balls are used (radius NND_k(X_i): the distance of real X_i to its k-th
nearest real neighbour, itself not counted; k = 5 in the paper), so, unlike precision and recall,
no ball is centred on a generated outlier. With N real points X and M generated points Y:

    density  = 1 / (k M) * sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]
    coverage = 1 / N     * sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]

Density counts how many real balls hold each generated point (1 on average when the two sets
come from one distribution; above 1 where samples crowd dense real regions, so not bounded by
1); coverage is the fraction of real balls holding at least one generated point, in [0, 1].

Built from study.gan.metrics.precision_recall's pieces: exact float64 distances in row blocks
of ``chunk`` generated points (never an N x M matrix), and the same ``knn_radii``. A point exactly
on a ball's boundary counts as inside (``<=``, as in precision and recall here); the reference
``prdc`` package, which implements both papers, uses a strict ``<``. The two differ only on
exact ties, e.g. a generated sample that duplicates a real point's k-th neighbour.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from study.gan.metrics.precision_recall import as_features, knn_radii, squared_distances

NEAREST_K = 5  # the paper's k


@dataclass(frozen=True)
class DensityCoverage:
    density: float
    coverage: float


def density_coverage(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = NEAREST_K,
                     chunk: int = 1024, device: torch.device | str = "cpu",
                     real_radii: torch.Tensor | None = None) -> DensityCoverage:
    """Density and coverage of generated features ``fake`` against real features ``real``.
    ``real_radii`` (from ``knn_radii(real, k)``, squared) may be passed in: the real set is the
    same at every evaluation of a study."""
    r, f = as_features(real, device), as_features(fake, device)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"features: dimensions differ ({r.shape[1]} vs {f.shape[1]})")
    radii = (knn_radii(r, k, chunk, device) if real_radii is None else real_radii).to(r.device, torch.float64)
    if radii.shape != (len(r),):
        raise ValueError(f"real_radii: need one per real point ({len(r)}), got shape {tuple(radii.shape)}")
    r_sq, held = (r * r).sum(1), 0
    covered = torch.zeros(len(r), dtype=torch.bool, device=r.device)
    for i in range(0, len(f), chunk):
        inside = squared_distances(f[i:i + chunk], r, r_sq) <= radii[None, :]  # (block of Y, X)
        held += int(inside.sum())
        covered |= inside.any(0)
    return DensityCoverage(density=held / (k * len(f)), coverage=int(covered.sum()) / len(r))
