"""The top-k% comparison of Kurach et al. 2019 (Figures 1-4): per group, the FIDs of the best
5% of trials.

Rule for a group of n trials: k = max(1, ceil(fraction * n)), where n counts every trial of
the group (diverged and failed ones too, since they are part of the search's cost); the k are
the k lowest finite FIDs (fewer if fewer trials have a finite FID).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd


def top_fraction(df: pd.DataFrame, by: Sequence[str] | str, fraction: float = 0.05,
                 metric: str = "fid") -> pd.DataFrame:
    """The best ``fraction`` of trials of each group of ``by`` (lowest ``metric``)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: invalid value {fraction}; allowed: 0 < fraction <= 1")
    by = [by] if isinstance(by, str) else list(by)
    parts = []
    for _, group in df.groupby(by, sort=True, dropna=False):
        k = max(1, math.ceil(fraction * len(group)))
        finite = group[np.isfinite(group[metric].to_numpy(dtype=float))]
        parts.append(finite.nsmallest(k, metric).assign(group_trials=len(group)))
    if not parts:
        return df.iloc[0:0].assign(group_trials=pd.Series(dtype="int64"))
    return pd.concat(parts, ignore_index=True)


def summarize(top: pd.DataFrame, by: Sequence[str] | str, metric: str = "fid") -> pd.DataFrame:
    """Count, min, median, mean and max of ``metric`` per group, best group first."""
    by = [by] if isinstance(by, str) else list(by)
    table = top.groupby(by)[metric].agg(["count", "min", "median", "mean", "max"])
    return table.sort_values("median")
