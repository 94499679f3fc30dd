"""Hyperparameter sensitivity: FID against each searched hyperparameter, and seed spread."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.load import CONFIG_ATTR

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


def seed_spread(df: pd.DataFrame, metric: str = "fid", config_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Trials that differ only in their seed (whatever their phase), grouped: count, mean, std,
    min, max of ``metric`` (Lucic et al. 2018 re-ran each model's best setting with many seeds
    to show this spread; the ``seeds`` phase does that). The trial-config columns are those the
    Parquet files mark as such (``analysis.load`` keeps them in ``df.attrs``), or ``config_columns``."""
    columns = config_columns if config_columns is not None else df.attrs.get(CONFIG_ATTR)
    if columns is None:
        raise ValueError("config_columns: not given and not in df.attrs; load the rows with analysis.load "
                         "or pass the trial-config column names")
    keys = [c for c in columns if c in df.columns and c not in NOT_CONFIG and df[c].notna().any()]
    grouped = df.groupby(keys, observed=True, dropna=False)[metric]
    table = grouped.agg(["count", "mean", "std", "min", "max"])
    return table[table["count"] > 1].reset_index()
