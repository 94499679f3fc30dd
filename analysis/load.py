"""Load a study's Parquet rows into a typed pandas DataFrame.

Reads only Parquet: which columns hold the trial config comes from the files' field metadata
(``group: config``), kept in ``df.attrs["config_columns"]``. A study's ``results/`` holds one
``<trial_key>.parquet`` per trial; anything else there (a copy such as ``X (copy).parquet``, a
truncated or junk file) is left out with a warning naming it, never read twice or fatal.
"""
from __future__ import annotations

import hashlib
import re
import warnings
from typing import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# Columns that name a choice (study factors): pandas categoricals, cheap to group by.
CATEGORICAL = ("study", "phase", "model", "dataset", "architecture", "arch_options", "loss", "penalty", "d_norm",
               "g_norm", "g_head", "z_dist", "step_unit", "n_dis_schedule", "feature_extractor", "fid_split",
               "status", "precision", "d_minibatch")
CONFIG_ATTR = "config_columns"
PART_PREFIX = "part-"  # a file of many finished trials (the store's compaction)
COPIES, RECORD = ".parts", ".sha256"  # each part's checksummed copy (study/engine/parts.py)
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
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


def _trial_files(fs: pafs.FileSystem, root: str) -> list[str]:
    files = []
    for info in fs.get_file_info(pafs.FileSelector(root)):
        if info.base_name.startswith((".", "_")):
            continue
        stem = info.base_name[: -len(".parquet")] if info.base_name.endswith(".parquet") else ""
        if info.type == pafs.FileType.File and KEY_RE.match(stem):
            files.append(info.path)
        else:
            warnings.warn(f"results: {info.path}: not a trial file (expected <trial_key>.parquet); left out",
                          stacklevel=3)
    return sorted(files)


def _readable(fs: pafs.FileSystem, files: list[str]) -> list[str]:
    good = []
    for path in files:
        try:
            with fs.open_input_file(path) as f:
                pq.read_table(f)
            good.append(path)
        except (pa.ArrowException, OSError) as e:
            warnings.warn(f"results: {path}: unreadable Parquet ({str(e).splitlines()[0][:200]}); left out",
                          stacklevel=3)
    return good


def _intact(fs: pafs.FileSystem, path: str) -> bool:
    try:
        with fs.open_input_file(path) as f:
            pq.read_metadata(f)
        return True
    except (pa.ArrowException, OSError):
        return False


def _stand_ins(fs: pafs.FileSystem, root: str) -> list[str]:
    """The checksummed copies of parts that are missing or unreadable (their rows are not lost;
    ``resume`` rebuilds the parts), when a copy's bytes match its recorded sha256."""
    try:
        records = [i for i in fs.get_file_info(pafs.FileSelector(f"{root}/{COPIES}")) if i.base_name.endswith(RECORD)]
    except FileNotFoundError:
        return []
    out = []
    for record in records:
        name = record.base_name[: -len(RECORD)] + ".parquet"
        part, copy = f"{root}/{name}", f"{root}/{COPIES}/{name}"
        if fs.get_file_info(part).type == pafs.FileType.File and _intact(fs, part):
            continue
        try:
            with fs.open_input_stream(record.path) as f, fs.open_input_stream(copy) as g:
                good = f.read().decode().strip() == hashlib.sha256(g.read()).hexdigest()
        except OSError:
            good = False
        if good:
            warnings.warn(f"results: {part} is missing or damaged; its checksummed copy is read instead "
                          f"(resume rebuilds it)", stacklevel=3)
            out.append(copy)
    return out


def _read(fs: pafs.FileSystem, files: list[str], columns: list[str] | None) -> tuple[pa.Table, pa.Schema | None]:
    if not files:
        return None, None
    try:
        dataset = ds.dataset(files, format="parquet", filesystem=fs)
        return dataset.to_table(columns=columns), dataset.schema
    except (pa.ArrowException, OSError):  # a damaged file: find it, read the rest
        good = _readable(fs, files)
        if not good:
            return None, None
        dataset = ds.dataset(good, format="parquet", filesystem=fs)
        return dataset.to_table(columns=columns), dataset.schema


def load_rows(path: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Every row (one per trial and evaluation) of the study at ``path`` (a local path or any
    URI pyarrow reads: s3://, gs://, ...), typed: factors as categoricals, ``bo_round`` as a
    nullable integer, ``timestamp`` as UTC datetimes. Finished trials live many to a
    ``part-*.parquet`` file; a trial's own file beside a part holding its key (an interrupted
    compaction) is skipped."""
    fs, root = _results_dir(str(path))
    files = _trial_files(fs, root)
    cols = None if columns is None else list(dict.fromkeys([*columns, "trial_key"]))
    parts = [f for f in files if f.rsplit("/", 1)[-1].startswith(PART_PREFIX)]
    part_table, schema = _read(fs, parts + _stand_ins(fs, root), cols)
    in_parts = set(part_table.column("trial_key").to_pylist()) if part_table is not None else set()
    loose = [f for f in files if f not in set(parts) and f.rsplit("/", 1)[-1][: -len(".parquet")] not in in_parts]
    loose_table, loose_schema = _read(fs, loose, cols)
    tables = [t for t in (part_table, loose_table) if t is not None]
    if not tables:
        return pd.DataFrame()
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    if columns is not None:
        table = table.select(list(columns))
    df = _typed(table.to_pandas())
    schema = schema or loose_schema
    df.attrs[CONFIG_ATTR] = [f.name for f in schema if (f.metadata or {}).get(b"group") == b"config"]
    return df


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


STOPPED_ATTR = "stopped_left_out"  # DataFrame.attrs: how many early-stopped trials load() left out


def load(path: str, which: str = "final", stopped: bool = False, **filters: str | list[str] | None) -> pd.DataFrame:
    """One row per trial, typed, optionally filtered.

    ``which``: ``final`` (the trial's last evaluation, what Kurach et al. report) or ``best``
    (its lowest FID over training). ``stopped``: keep the trials early stopping ended (status
    ``stopped``, their FID taken at the step they reached); by default they are left out, so
    that every FID compared was trained to the end, and ``df.attrs["stopped_left_out"]`` says
    how many. Filters: any of phase, dataset, architecture, status, loss, penalty, d_norm,
    model, study, each a value or a list of values.
    """
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a filter; allowed: {', '.join(FILTERS)}")
    rows = load_rows(path)
    if rows.empty:
        return rows
    trials = with_model_factors(select_trials(rows, which))
    for name, value in filters.items():
        if value is not None:
            trials = trials[trials[name].isin([value] if isinstance(value, str) else list(value))]
    left_out = 0
    if not stopped:
        is_stopped = (trials["status"] == "stopped").to_numpy()
        left_out, trials = int(is_stopped.sum()), trials[~is_stopped]
    trials = trials.reset_index(drop=True)
    trials.attrs[STOPPED_ATTR] = left_out
    return trials


def model_factors(df: pd.DataFrame) -> list[str]:
    """The factor names the ``model`` column holds ("objective=ns,trick=fm": objective, trick)."""
    if "model" not in df.columns:
        return []
    keys = {p.split("=", 1)[0]: None for m in df["model"].astype(str).unique() for p in m.split(",") if "=" in p}
    return list(keys)


def with_model_factors(df: pd.DataFrame) -> pd.DataFrame:
    """Add a categorical column for each factor of the model names that is no column already:
    the factors of named settings (``factors: {trick: {none: {}, fm: {...}}}``)."""
    for key in model_factors(df):
        if key not in df.columns:
            parsed = df["model"].astype(str).map(
                lambda m, k=key: dict(p.split("=", 1) for p in m.split(",") if "=" in p).get(k))
            df[key] = parsed.astype("category")
    return df
