"""Rows that ``gan-study rescore`` wrote (``<study>/rescore/*.parquet``: one row per kept generator
and metric column, in a feature space the study may not have used), and the trial table with
them as columns.

A rescored value becomes the column ``<metric>@<feature_extractor>`` (``fid@dinov2_vitl14`` is
the Frechet distance in DINOv2 ViT-L/14 features, ``kid@inception``, ``dc_coverage@digits``), on
the row of the trial whose generator was scored; trials whose generator was not kept have NaN
there. Where one question was asked twice (the same generator, metric and feature space, e.g.
with other weights), the latest row wins. Unreadable files are left out with a warning.
"""
from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

RESCORE = "rescore"


def _rescore_dir(path: str) -> tuple[pafs.FileSystem, str]:
    fs, root = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), str(path))
    root = root.rstrip("/")
    if root.endswith("/results"):
        root = root[: -len("/results")]
    return fs, f"{root}/{RESCORE}"


def load_rescored(path: str) -> pd.DataFrame:
    """Every rescore row of the study at ``path`` (the study directory or its results/); an empty
    frame when nothing was rescored."""
    fs, root = _rescore_dir(str(path))
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return pd.DataFrame(columns=["trial_key", "metric", "feature_extractor", "value"])
    tables = []
    for info in fs.get_file_info(pafs.FileSelector(root)):
        if info.base_name.startswith(".") or not info.base_name.endswith(".parquet"):
            continue
        try:
            with fs.open_input_file(info.path) as f:
                tables.append(pq.read_table(f))
        except (pa.ArrowException, OSError) as e:
            warnings.warn(f"rescore: {info.path}: unreadable Parquet ({str(e).splitlines()[0][:200]}); left out",
                          stacklevel=2)
    if not tables:
        return pd.DataFrame(columns=["trial_key", "metric", "feature_extractor", "value"])
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def rescored_columns(rescored: pd.DataFrame) -> pd.DataFrame:
    """trial_key -> one column per ``<metric>@<feature_extractor>`` (the latest row of each)."""
    if rescored.empty:
        return pd.DataFrame(index=pd.Index([], name="trial_key"))
    rows = rescored.sort_values("timestamp", kind="stable") if "timestamp" in rescored else rescored
    name = rows["metric"].astype(str) + "@" + rows["feature_extractor"].astype(str)
    wide = rows.assign(column=name).drop_duplicates(["trial_key", "column"], keep="last")
    _warn_mixed(wide)
    table = wide.pivot(index="trial_key", columns="column", values="value")
    table.columns.name = None
    return table


PROTOCOL = ("fid_resize", "feature_weights_sha256", "fid_samples", "fid_split", "fid_real_stats_sha256")


def _warn_mixed(wide: pd.DataFrame) -> None:
    """A column whose trials were scored under different protocols (another resize, weights file,
    sample count or real set: an interrupted second rescore) does not compare like with like."""
    fields = [c for c in PROTOCOL if c in wide]
    mixed = [str(c) for c, g in wide.groupby("column", sort=True) if len(g[fields].drop_duplicates()) > 1]
    if fields and mixed:
        warnings.warn(f"rescore: {', '.join(mixed)}: trials scored under different protocols ({', '.join(fields)} "
                      f"differ); each trial's latest row is used: rescore the rest with the same options",
                      stacklevel=3)


def with_rescores(df: pd.DataFrame, rescored: pd.DataFrame) -> pd.DataFrame:
    """``df`` (one row per trial, as analysis.load gives) with the rescored columns joined by trial key."""
    table = rescored_columns(rescored)
    if table.empty:
        return df
    keys = df["trial_key"].astype(str)
    out = df.copy()
    for column in table.columns:
        out[column] = keys.map(table[column]).to_numpy(dtype=float)
    return out
