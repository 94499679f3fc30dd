"""Inception Score, KID and the pixel-histogram distance, on precomputed arrays.

- Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) over ``splits`` splits
  (10 by convention) with the boundaries of OpenAI's code and torch-fidelity, i * N // splits;
  mean and standard deviation over the splits.
- KID (Binkowski et al. 2018): squared MMD with the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, unbiased estimate, averaged over random subsets of each set. The
  subsets must be smaller than the sets for their spread to mean anything: with fewer samples
  than ``subset_size``, subsets of half the smaller set are drawn. Subsets are drawn as
  torch-fidelity draws them (``np.random.RandomState(seed).choice`` without replacement, x then y
  per subset), so with the same seed and sizes the two give the same KID.
- Pixel-histogram distance (Mullery and Whelan's diagnostic): per channel, the total-variation
  distance 0.5 * sum |h_gen - h_real| between normalised histograms of pixel values in [0, 1]
  (``bins`` bins), averaged over channels: 0 for identical histograms, 1 for disjoint ones.
"""
from __future__ import annotations

import numpy as np


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    scores = []
    n = len(log_p)
    for part in (log_p[i * n // splits:(i + 1) * n // splits] for i in range(splits)):
        p = np.exp(part)
        log_marginal = np.log(p.mean(axis=0) + 1e-300)
        scores.append(np.exp((p * (part - log_marginal)).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


def kernel_inception_distance(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """Mean and std of the unbiased MMD^2 over ``subsets`` random subsets (without replacement
    within a subset) of ``subset_size`` points from each set, or half the smaller set when that
    is not larger than ``subset_size``."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    smaller = min(len(x), len(y))
    m = subset_size if subset_size < smaller else smaller // 2
    if m < 2:
        raise ValueError(f"kid: need at least 2 samples per set, got {len(x)} and {len(y)}")
    rng = np.random.RandomState(seed)
    values = [_mmd2_unbiased(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def pixel_histogram_distance(generated: np.ndarray, real: np.ndarray, bins: int = 64) -> float:
    """Images (N, C, H, W) in [0, 1]: mean over channels of the TV distance of pixel histograms."""
    g, r = np.asarray(generated), np.asarray(real)
    if g.shape[1] != r.shape[1]:
        raise ValueError(f"pixel histograms: channel counts differ ({g.shape[1]} vs {r.shape[1]})")
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for c in range(g.shape[1]):
        hg = np.histogram(np.clip(g[:, c], 0, 1), edges)[0].astype(np.float64)
        hr = np.histogram(np.clip(r[:, c], 0, 1), edges)[0].astype(np.float64)
        total += 0.5 * np.abs(hg / hg.sum() - hr / hr.sum()).sum()
    return total / g.shape[1]
