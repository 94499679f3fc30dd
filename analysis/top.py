"""The top-k% comparison of Kurach et al. 2019 (Figures 1-4): per group, the FIDs of the best
5% of trials.

Rule for a group of n trials: k = max(1, ceil(fraction * n)), where n counts every trial of
the group (diverged and failed ones too: they are part of what the search cost); the k are
the k lowest finite FIDs (fewer if fewer trials have a finite FID).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def _by(by: Sequence[str] | str) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def top_count(n: np.ndarray | int, fraction: float) -> np.ndarray:
    """k = max(1, ceil(fraction * n)) for groups of n trials (the 1e-9 keeps 0.05 * 20 at 1)."""
    return np.maximum(1, np.ceil(fraction * np.asarray(n) - 1e-9)).astype(int)


def top_fraction(df: pd.DataFrame, by: Sequence[str] | str, fraction: float = 0.05,
                 metric: str = "fid") -> pd.DataFrame:
    """The best ``fraction`` of trials of each group of ``by`` (lowest ``metric``), with a
    ``group_trials`` column (n) and ``rank`` (1 = best) in the group. Vectorised: one sort."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: invalid value {fraction}; allowed: 0 < fraction <= 1")
    by = _by(by)
    n = df.groupby(by, observed=True, dropna=False, sort=False)[metric].transform("size")
    values = df[metric].to_numpy(dtype=float)
    finite = np.isfinite(values)
    work = df.assign(group_trials=n.to_numpy(), _v=np.where(finite, values, np.inf))
    work = work[finite].sort_values(by + ["_v"], kind="stable")
    work["rank"] = work.groupby(by, observed=True, dropna=False, sort=False).cumcount() + 1
    k = top_count(work["group_trials"].to_numpy(), fraction)
    return work[work["rank"].to_numpy() <= k].drop(columns="_v").reset_index(drop=True)


def summarize(top: pd.DataFrame, by: Sequence[str] | str, metric: str = "fid") -> pd.DataFrame:
    """Count, min, median, mean and max of ``metric`` per group, best median first."""
    table = top.groupby(_by(by), observed=True)[metric].agg(["count", "min", "median", "mean", "max"])
    return table.sort_values("median")


def outcome_fractions(df: pd.DataFrame, by: Sequence[str] | str) -> pd.DataFrame:
    """Per group: number of trials and the fraction that were ok, diverged and failed (and
    stopped, when early stopping ended any)."""
    counts = outcome_counts(df, by)
    out = counts.drop(columns="trials").div(counts["trials"], axis=0)
    out.insert(0, "trials", counts["trials"])
    return out


def outcome_counts(df: pd.DataFrame, by: Sequence[str] | str) -> pd.DataFrame:
    """Per group: trials, and how many were ok, diverged and failed (and stopped, when early
    stopping ended any), as whole numbers: the table a paper shows."""
    by = _by(by)
    counts = pd.crosstab([df[b].astype("object") for b in by], df["status"].astype("object"))
    statuses = ["ok", "diverged", "failed"] + (["stopped"] if "stopped" in counts else [])
    for s in statuses:
        if s not in counts:
            counts[s] = 0
    out = counts[statuses].astype(int)
    out.insert(0, "trials", out.sum(axis=1))
    out.columns.name = None
    return out

