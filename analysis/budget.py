"""FID as a function of the search budget (Lucic et al. 2018, "Are GANs Created Equal?", Sec. 5).

For a budget of k hyperparameter settings, draw k of a model's finished trials at random with
replacement (the bootstrap of the paper) and take the lowest FID. Instead of simulating the
resampling, the distribution of that minimum is computed exactly: with the n FIDs sorted,
x_(1) <= ... <= x_(n),

    P(min >= x_(i)) = ((n - i + 1) / n)^k                        (with replacement)
    P(min >= x_(i)) = C(n - i + 1, k) / C(n, k)                  (without, k <= n)

so E[min] = x_(1) + sum_{i>1} (x_(i) - x_(i-1)) P(min >= x_(i)) (the telescoped form of
sum_i x_(i) P(min = x_(i)): exact for ties, where the gaps are zero) and the band is read off
the exact quantiles of the minimum. Trials without a finite FID (diverged, failed) are left out by
default; ``failed_fid`` puts them in the pool with that FID instead (they cost budget).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln


def _survival(n: int, ks: np.ndarray, replace: bool) -> np.ndarray:
    """S[k, i] = P(min of k draws >= x_(i+1)) for i = 0..n (S[:, n] = 0)."""
    i = np.arange(n + 1)  # number of order statistics excluded below
    remaining = n - i
    if replace:
        return (remaining[None, :] / n) ** ks[:, None]
    k = ks[:, None]
    r = remaining[None, :]
    with np.errstate(invalid="ignore"):
        log_s = gammaln(r + 1) - gammaln(k + 1) - gammaln(r - k + 1) - (gammaln(n + 1) - gammaln(k + 1)
                                                                        - gammaln(n - k + 1))
    return np.where(r >= k, np.exp(log_s), 0.0)


def min_distribution(values: np.ndarray, ks: Sequence[int], replace: bool = True,
                     quantiles: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """Expected minimum and quantiles of the minimum of k draws from ``values``, for each k."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    ks = np.asarray(list(ks), dtype=int)
    if n == 0:
        return pd.DataFrame({"k": ks, "expected_min": np.nan, "low": np.nan, "high": np.nan, "n": 0})
    if not replace and (ks > n).any():
        raise ValueError(f"k: without replacement k must be <= n = {n}")
    s = _survival(n, ks, replace)
    expected = x[0] + s[:, 1:-1] @ np.diff(x)  # x_(1) + sum_i (x_(i+1) - x_(i)) P(min >= x_(i+1))
    cdf = 1.0 - s[:, 1:]  # P(min <= x_(i))
    lo = x[np.minimum((cdf < quantiles[0] - 1e-12).sum(axis=1), n - 1)]
    hi = x[np.minimum((cdf < quantiles[1] - 1e-12).sum(axis=1), n - 1)]
    return pd.DataFrame({"k": ks, "expected_min": expected, "low": lo, "high": hi, "n": n})


def budget_curves(df: pd.DataFrame, by: Sequence[str] | str = ("model", "phase"), ks: Sequence[int] | None = None,
                  metric: str = "fid", replace: bool = True, quantiles: tuple[float, float] = (0.05, 0.95),
                  failed_fid: float | None = None) -> pd.DataFrame:
    """One curve per group of ``by`` (default: per model, grid and BO apart): columns ``by``,
    k, expected_min, low, high (the quantile band) and n (trials in the pool)."""
    by = [by] if isinstance(by, str) else list(by)
    out = []
    for key, group in df.groupby(by, observed=True, sort=True):
        v = group[metric].to_numpy(dtype=float)
        v = np.where(np.isfinite(v), v, np.nan if failed_fid is None else failed_fid)
        v = v[np.isfinite(v)]
        if not len(v):
            continue
        group_ks = np.asarray(ks if ks is not None else range(1, len(v) + 1))
        if not replace:
            group_ks = group_ks[group_ks <= len(v)]
        curve = min_distribution(v, group_ks, replace, quantiles)
        for col, val in zip(by, key if isinstance(key, tuple) else (key,)):
            curve.insert(0, col, val)
        out.append(curve)
    if not out:
        return pd.DataFrame(columns=by + ["k", "expected_min", "low", "high", "n"])
    return pd.concat(out, ignore_index=True)
