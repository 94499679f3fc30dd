"""Load a study's Parquet rows into a typed pandas DataFrame."""
from __future__ import annotations

from typing import Iterable

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.fs as pafs

# Columns that name a choice (study factors): pandas categoricals, cheap to group by.
CATEGORICAL = ("study", "phase", "model", "dataset", "architecture", "arch_options", "loss", "penalty", "d_norm",
               "g_norm", "g_head", "z_dist", "step_unit", "n_dis_schedule", "feature_extractor", "fid_split",
               "status", "precision")
FILTERS = ("phase", "dataset", "architecture", "status", "loss", "penalty", "d_norm", "model", "study")


def _results_dir(path: str) -> tuple[pafs.FileSystem, str]:
    fs, root = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), str(path))
    root = root.rstrip("/")
    if fs.get_file_info(f"{root}/results").type == pafs.FileType.Directory:
        root = f"{root}/results"
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise FileNotFoundError(f"results: no study results at {path!r} (expected a study directory or its results/)")
    return fs, root


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for c in CATEGORICAL:
        if c in df.columns:
            df[c] = df[c].astype("category")
    if "bo_round" in df.columns:
        df["bo_round"] = df["bo_round"].astype("Int32")
    return df


def load_rows(path: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Every row (one per trial and evaluation) of the study at ``path`` (a local path or any
    URI pyarrow reads: s3://, gs://, ...), typed: factors as categoricals, ``bo_round`` as a
    nullable integer, ``timestamp`` as UTC datetimes."""
    fs, root = _results_dir(str(path))
    dataset = ds.dataset(root, format="parquet", filesystem=fs, ignore_prefixes=[".", "_"])
    table = dataset.to_table(columns=list(columns) if columns is not None else None)
    return _typed(table.to_pandas())


def select_trials(rows: pd.DataFrame, which: str = "final") -> pd.DataFrame:
    """One row per trial from evaluation rows: the final one (``final``), or the one with the
    lowest FID over training (``best``; trials with no finite FID keep their final row)."""
    if which not in ("final", "best"):
        raise ValueError(f"which: invalid value {which!r}; allowed: final, best")
    final = rows[rows["is_final"].astype(bool)].drop_duplicates("trial_key", keep="last")
    if which == "final":
        return final
    ok = rows[rows["fid"].notna() & (rows["status"] == "ok")]
    best = ok.sort_values(["trial_key", "fid"], kind="stable").drop_duplicates("trial_key", keep="first")
    return pd.concat([best, final[~final["trial_key"].isin(best["trial_key"])]])


def load(path: str, which: str = "final", **filters: str | list[str] | None) -> pd.DataFrame:
    """One row per trial, typed, optionally filtered.

    ``which``: ``final`` (the trial's last evaluation, what Kurach et al. report) or ``best``
    (its lowest FID over training). Filters: any of phase, dataset, architecture, status, loss,
    penalty, d_norm, model, study, each a value or a list of values.
    """
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a filter; allowed: {', '.join(FILTERS)}")
    rows = load_rows(path)
    if rows.empty:
        return rows
    trials = select_trials(rows, which)
    for name, value in filters.items():
        if value is not None:
            trials = trials[trials[name].isin([value] if isinstance(value, str) else list(value))]
    return trials.reset_index(drop=True)
