"""The results store: a Parquet dataset, one file per trial key, written atomically.

Layout: ``<study_dir>/results/<trial_key>.parquet``. A trial's file holds all of its rows (one
per evaluation) and is rewritten whole after every evaluation: written under a temporary
name starting with '.', then renamed over the old file, so a crash leaves either the old or
the new file, never half of one, and readers (pyarrow, pandas, DuckDB, Polars) skip the
temporary names. Re-running a trial key replaces its rows; it never duplicates them.

Any URI pyarrow understands works as the study directory (local path, NFS, s3://, gs://).
"""
from __future__ import annotations

import dataclasses
import uuid
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from study.config import TrialConfig

_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}

IDENTITY = [
    pa.field("study", pa.string(), nullable=False),
    pa.field("phase", pa.string(), nullable=False),  # grid | bo | seeds
    pa.field("bo_round", pa.int32()),  # null outside the BO phase
    pa.field("model", pa.string(), nullable=False),  # the factor combination, e.g. "d_norm=sn,loss=ns"
    pa.field("trial_key", pa.string(), nullable=False),
]
CONFIG = [pa.field(f.name, _ARROW[f.type]) for f in dataclasses.fields(TrialConfig)]
METRICS = [
    pa.field("step", pa.int64()),
    pa.field("fid", pa.float64()),
    pa.field("best_fid", pa.float64()),
    pa.field("fid_samples", pa.int64()),
    pa.field("fid_split", pa.string()),
    pa.field("fid_precision", pa.string()),  # the precision the extractor ran in (float32 unless calibrated)
    pa.field("d_loss", pa.float64()),
    pa.field("g_loss", pa.float64()),
    pa.field("inception_score", pa.float64()),
    pa.field("inception_score_std", pa.float64()),
    pa.field("kid", pa.float64()),
    pa.field("kid_std", pa.float64()),
    pa.field("pixel_hist_distance", pa.float64()),
    pa.field("recon_error", pa.float64()),
    pa.field("is_final", pa.bool_()),
]
OUTCOME = [
    pa.field("status", pa.string()),  # ok | diverged | failed
    pa.field("error", pa.string()),
    pa.field("wall_time_s", pa.float64()),
    pa.field("restored_from_step", pa.int64()),  # the checkpoint step a retried trial continued from (0: fresh)
]
PROVENANCE = [
    pa.field("package_version", pa.string()),
    pa.field("git_revision", pa.string()),
    pa.field("torch_version", pa.string()),
    pa.field("device_name", pa.string()),
    pa.field("hostname", pa.string()),
    pa.field("node_id", pa.string()),  # the Ray node the trial ran on
    pa.field("timestamp", pa.timestamp("us", tz="UTC")),
]
SCHEMA = pa.schema(IDENTITY + CONFIG + METRICS + OUTCOME + PROVENANCE)
assert len(set(SCHEMA.names)) == len(SCHEMA.names), "results schema: duplicate column names"
STATUSES = ("ok", "diverged", "failed")


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    fs, path = pafs.FileSystem.from_uri(uri) if "://" in uri else (pafs.LocalFileSystem(), uri)
    return fs, path.rstrip("/")


class ResultsStore:
    """Reads and writes the trial rows of one study directory."""

    def __init__(self, study_dir: str) -> None:
        self.uri = str(study_dir)
        self.fs, root = _filesystem(self.uri)
        self.root = f"{root}/results"
        self.fs.create_dir(self.root, recursive=True)

    def path(self, trial_key: str) -> str:
        return f"{self.root}/{trial_key}.parquet"

    def write_trial(self, trial_key: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Atomically replace the rows of ``trial_key`` with ``rows``."""
        table = to_table(rows)
        if table.num_rows and set(table.column("trial_key").to_pylist()) != {trial_key}:
            raise ValueError(f"trial_key: rows for {trial_key} carry other keys")
        tmp = f"{self.root}/.tmp-{trial_key}-{uuid.uuid4().hex}.parquet"
        with self.fs.open_output_stream(tmp) as out:
            pq.write_table(table, out)
        self.fs.move(tmp, self.path(trial_key))

    def read_trial(self, trial_key: str) -> list[dict[str, Any]]:
        info = self.fs.get_file_info(self.path(trial_key))
        if info.type == pafs.FileType.NotFound:
            return []
        with self.fs.open_input_file(self.path(trial_key)) as f:
            return pq.read_table(f, schema=SCHEMA).to_pylist()

    def table(self) -> pa.Table:
        files = [i.path for i in self.fs.get_file_info(pafs.FileSelector(self.root))
                 if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
                 and not i.base_name.startswith((".", "_"))]
        if not files:
            return SCHEMA.empty_table()
        return ds.dataset(sorted(files), schema=SCHEMA, format="parquet", filesystem=self.fs).to_table()

    def archive(self, trial_keys: Iterable[str], name: str) -> str:
        """Move these trials' files into ``results/.<name>/``: out of the dataset (readers skip
        dot-folders) but kept."""
        folder = f"{self.root}/.{name}"
        self.fs.create_dir(folder, recursive=True)
        for key in trial_keys:
            self.fs.move(self.path(key), f"{folder}/{key}.parquet")
        return folder


def to_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows -> a table of exactly SCHEMA; unknown keys are an error, missing ones null."""
    rows = list(rows)
    names = set(SCHEMA.names)
    for row in rows:
        extra = set(row) - names
        if extra:
            raise ValueError(f"results row: unknown columns {sorted(extra)}")
        status = row.get("status")
        if status not in STATUSES:
            raise ValueError(f"status: invalid value {status!r}; allowed: {', '.join(STATUSES)}")
    return pa.Table.from_pylist([{n: r.get(n) for n in SCHEMA.names} for r in rows], schema=SCHEMA)
