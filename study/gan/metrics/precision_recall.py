"""Improved precision and recall (Kynkaenniemi et al. 2019, "Improved Precision and Recall
Metric for Assessing Generative Models", Sec. 2, eqs. 1-3), from the features FID uses.

Each point phi' of a set Phi stands for a ball of radius ||phi' - NN_k(phi', Phi)||, the
distance to its k-th nearest neighbour in Phi (k = 3 in the paper; the point itself not
counted). The set's manifold is the union of its balls, and

    f(phi, Phi) = 1  if ||phi - phi'|| <= ||phi' - NN_k(phi', Phi)|| for some phi' in Phi
    precision   = mean over generated phi_g of f(phi_g, Phi_real)
    recall      = mean over real phi_r      of f(phi_r, Phi_gen)

Distances are exact Euclidean distances in float64, computed in row blocks of ``chunk`` points
(never an n x m matrix: 10,000 x 10,000 Inception features take 80 MB per block, not 800 MB),
on whatever device the features are put on. The reference ``prdc`` package (Naeem et al. 2020)
computes the same quantities with a strict ``<``; the two differ only for a point lying exactly
on a ball's boundary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

NEAREST_K = 3  # the paper's k


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float


def as_features(x: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``x`` as an (n >= 2, d) float64 tensor on ``device``."""
    t = torch.as_tensor(x).to(device=device, dtype=torch.float64)
    if t.ndim != 2 or len(t) < 2:
        raise ValueError(f"features: need an (n >= 2, d) array, got shape {tuple(t.shape)}")
    return t


def squared_distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """||a_i - b_j||^2 for a block of rows ``a`` against all of ``b`` (``b_sq``: its squared norms)."""
    return ((a * a).sum(1, keepdim=True) - 2.0 * a @ b.T + b_sq[None, :]).clamp_min_(0.0)


def knn_radii(features: np.ndarray | torch.Tensor, k: int = NEAREST_K, chunk: int = 1024,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """Squared distance of each point to its k-th nearest neighbour in its own set (self excluded:
    the (k+1)-th smallest distance, the point's own 0 being the first)."""
    x = as_features(features, device)
    if not 1 <= k < len(x):
        raise ValueError(f"k: invalid value {k}; allowed: 1 <= k < number of points ({len(x)})")
    x_sq = (x * x).sum(1)
    out = []
    for i in range(0, len(x), chunk):
        d = squared_distances(x[i:i + chunk], x, x_sq)
        d[torch.arange(len(d), device=d.device), torch.arange(i, i + len(d), device=d.device)] = 0.0
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, -1])
    return torch.cat(out)


def coverage_fraction(points: np.ndarray | torch.Tensor, centres: np.ndarray | torch.Tensor,
                      radii_sq: torch.Tensor, chunk: int = 1024, device: torch.device | str = "cpu") -> float:
    """Fraction of ``points`` inside at least one ball (centre, squared radius): f of eq. 1."""
    p, c = as_features(points, device), as_features(centres, device)
    if p.shape[1] != c.shape[1]:
        raise ValueError(f"features: dimensions differ ({p.shape[1]} vs {c.shape[1]})")
    c_sq, r = (c * c).sum(1), radii_sq.to(device=device, dtype=torch.float64)
    inside = 0
    for i in range(0, len(p), chunk):
        inside += int((squared_distances(p[i:i + chunk], c, c_sq) <= r[None, :]).any(1).sum())
    return inside / len(p)


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = NEAREST_K,
                     chunk: int = 1024, device: torch.device | str = "cpu",
                     real_radii: torch.Tensor | None = None) -> PrecisionRecall:
    """Precision and recall of generated features ``fake`` against real features ``real``
    (eq. 2 and 3). ``real_radii`` (from ``knn_radii(real, k)``) may be passed in: the real set is
    the same at every evaluation of a study."""
    r, f = as_features(real, device), as_features(fake, device)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"features: dimensions differ ({r.shape[1]} vs {f.shape[1]})")
    real_r = (knn_radii(r, k, chunk, device) if real_radii is None else real_radii).to(device, torch.float64)
    fake_r = knn_radii(f, k, chunk, device)
    # One pass over the fake-real distances serves both: rows for precision, columns for recall.
    r_sq, inside, covered = (r * r).sum(1), 0, torch.zeros(len(r), dtype=torch.bool, device=r.device)
    for i in range(0, len(f), chunk):
        d = squared_distances(f[i:i + chunk], r, r_sq)
        inside += int((d <= real_r[None, :]).any(1).sum())
        covered |= (d <= fake_r[i:i + chunk, None]).any(0)
    return PrecisionRecall(precision=inside / len(f), recall=int(covered.sum()) / len(r))
