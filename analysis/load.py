"""Load a study's Parquet rows into pandas."""
from __future__ import annotations

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.fs as pafs


def _results_dir(path: str) -> tuple[pafs.FileSystem, str]:
    fs, root = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), str(path))
    root = root.rstrip("/")
    if fs.get_file_info(f"{root}/results").type == pafs.FileType.Directory:
        root = f"{root}/results"
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise FileNotFoundError(f"results: no study results at {path!r} (expected a study directory or its results/)")
    return fs, root


def load_rows(path: str) -> pd.DataFrame:
    """Every row (one per trial and evaluation) of the study at ``path`` (local path or URI)."""
    fs, root = _results_dir(str(path))
    dataset = ds.dataset(root, format="parquet", filesystem=fs, ignore_prefixes=[".", "_"])
    return dataset.to_table().to_pandas()


def load(path: str, which: str = "final", phase: str | list[str] | None = None,
         status: str | list[str] | None = None) -> pd.DataFrame:
    """One row per trial: its final evaluation (``which="final"``) or its best FID over
    training (``which="best"``, the row of the lowest FID; trials with no finite FID keep their
    final row). Optionally filtered by phase and status."""
    if which not in ("final", "best"):
        raise ValueError(f"which: invalid value {which!r}; allowed: final, best")
    rows = load_rows(path)
    if rows.empty:
        return rows
    final = rows[rows["is_final"]].drop_duplicates("trial_key", keep="last")
    if which == "best":
        finite = rows[rows["fid"].notna() & (rows["status"] == "ok")]
        best = finite.loc[finite.groupby("trial_key")["fid"].idxmin()]
        final = pd.concat([best, final[~final["trial_key"].isin(best["trial_key"])]])
    for name, value in (("phase", phase), ("status", status)):
        if value is not None:
            final = final[final[name].isin([value] if isinstance(value, str) else value)]
    return final.reset_index(drop=True)
