"""Frechet distance between Gaussians fitted to features (Heusel et al. 2017, eq. 6).

d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

Tr (S1 S2)^(1/2) is the sum of the square roots of the eigenvalues of S1 S2. With a Cholesky
factor S1 = L L^T, S1 S2 = L (L^T S2) has the eigenvalues of L^T S2 L, which is symmetric: one
Cholesky and one eigenvalues-only ``eigvalsh``, in float64, replace ``scipy.linalg.sqrtm``
(about 12x faster at 2048-d; sqrtm is also unstable on near-singular covariances). When neither
covariance is positive definite (fewer samples than dimensions), the same eigenvalues come from
sqrt(S1) S2 sqrt(S1) with sqrt(S1) from ``eigh``. Round-off negatives are clipped to zero.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (n - 1 denominator) in float64 of an (n, d) feature array."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features: need an (n >= 2, d) array, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1)


def _eigvalsh(m: np.ndarray) -> np.ndarray:
    return scipy.linalg.eigvalsh((m + m.T) / 2.0, driver="ev", check_finite=False, overwrite_a=True)


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """Tr (S1 S2)^(1/2) for symmetric positive semi-definite S1, S2."""
    for a, b in ((s1, s2), (s2, s1)):
        try:
            lower = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            continue
        return float(np.sqrt(np.clip(_eigvalsh(lower.T @ b @ lower), 0.0, None)).sum())
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    return float(np.sqrt(np.clip(_eigvalsh(root @ s2 @ root), 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"frechet_distance: mismatched shapes {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    if not (np.isfinite(s1).all() and np.isfinite(s2).all() and np.isfinite(mu1).all() and np.isfinite(mu2).all()):
        return float("nan")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))
