"""Hyperparameter sensitivity: FID against each searched hyperparameter, and seed spread."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

HYPERPARAMETERS = ("lr", "beta1", "beta2", "n_dis", "penalty_lambda")
LOG_SCALE = ("lr", "penalty_lambda")
# Columns that are not part of what a trial computes: two trials equal in every other column
# differ only by their seed.
NOT_CONFIG = ("seed", "device", "threads", "study", "phase", "bo_round", "model", "trial_key")


def varying(df: pd.DataFrame, params: Sequence[str] = HYPERPARAMETERS) -> list[str]:
    """The hyperparameters that take more than one value in ``df``."""
    return [p for p in params if p in df.columns and df[p].nunique(dropna=True) > 1]


def best_per_group(df: pd.DataFrame, by: Sequence[str] | str, metric: str = "fid") -> pd.DataFrame:
    """The trial with the lowest finite ``metric`` of each group."""
    by = [by] if isinstance(by, str) else list(by)
    ok = df[np.isfinite(df[metric].to_numpy(dtype=float))]
    return ok.sort_values(metric, kind="stable").drop_duplicates(by, keep="first").sort_values(by)


def seed_spread(df: pd.DataFrame, metric: str = "fid") -> pd.DataFrame:
    """Trials that differ only in their seed (whatever their phase), grouped: count, mean, std,
    min, max of ``metric`` (Lucic et al. 2018 re-ran each model's best setting with many seeds
    to show this spread; the ``seeds`` phase does that)."""
    from study.store import CONFIG  # the trial-config columns of the results schema

    keys = [f.name for f in CONFIG if f.name in df.columns and f.name not in NOT_CONFIG and df[f.name].notna().any()]
    grouped = df.groupby(keys, observed=True, dropna=False)[metric]
    table = grouped.agg(["count", "mean", "std", "min", "max"])
    return table[table["count"] > 1].reset_index()
