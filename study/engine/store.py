"""The results store: a Parquet dataset, one file per trial key, written atomically.

Layout: ``<study_dir>/results/<trial_key>.parquet``. A trial's file holds all of its rows (one
per evaluation) and is replaced whole when its rows change: written under a temporary name
starting with '.', then renamed over the old file, so a crash leaves either the old or the new
file, never half of one, and readers (pyarrow, pandas, DuckDB, Polars) skip the temporary
names. Re-running a trial key replaces its rows; it never duplicates them.

Finished trials are compacted: their rows move, many trials at a time, into
``results/part-<id>.parquet``, so that a study of thousands of trials is a few dozen files and
reading it takes seconds, not a file open per trial. Each part is written with a checksummed
copy in ``results/.parts/`` (study/engine/parts.py), and the trials' own files are deleted only
once the part reads back with its checksum: a damaged or deleted part is read from its copy
(``status``) and rebuilt from it (``run``/``resume``), so one damaged file loses nothing. A
trial's own file left beside a part that holds its key (a compaction interrupted before the
deletes) is a duplicate: readers skip it and the driver deletes it.

Anything else in ``results/`` (a truncated or junk ``*.parquet``, a copy such as
``X (copy).parquet``, a stray file) would break or double what a Parquet reader sees of the
folder: ``scan`` finds such files and ``quarantine`` moves them to ``results/.quarantine/``
(never deletes them), with a warning naming each.

Any URI pyarrow understands works as the study directory (local path, NFS, s3://, gs://).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from study.engine.parts import PartCopies, digest
from study.engine.schema import SCHEMA, STATUSES

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # trial keys are 16 hex digits; tests use short names
QUARANTINE = ".quarantine"
PART_PREFIX = "part-"  # files of many finished trials; no trial key starts so (keys are hex)


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    fs, path = pafs.FileSystem.from_uri(uri) if "://" in uri else (pafs.LocalFileSystem(), uri)
    return fs, path.rstrip("/")


@dataclass
class Scan:
    """What ``results/`` holds: the valid rows, and the files that are not valid trial files."""

    table: pa.Table
    bad: dict[str, str] = field(default_factory=dict)  # path -> why
    duplicates: list[str] = field(default_factory=list)  # trial files whose rows a part file holds
    loose: list[str] = field(default_factory=list)  # trial keys with their own file
    stand_ins: list[str] = field(default_factory=list)  # parts missing or damaged, read from their copies

    @property
    def damaged(self) -> bool:
        """Whether a repair (``run``/``resume``) has anything to do."""
        return bool(self.bad or self.duplicates or self.stand_ins)


class ResultsStore:
    """Reads and writes the trial rows of one study directory."""

    def __init__(self, study_dir: str, create: bool = True) -> None:
        self.uri = str(study_dir)
        self.fs, root = filesystem(self.uri)
        self.root = f"{root}/results"
        self.copies = PartCopies(self.fs, self.root)
        if create:
            self.fs.create_dir(self.root, recursive=True)

    def path(self, trial_key: str) -> str:
        return f"{self.root}/{trial_key}.parquet"

    def write_trial(self, trial_key: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Atomically replace the rows of ``trial_key`` with ``rows``."""
        if not KEY_RE.match(trial_key) or trial_key.startswith(PART_PREFIX):
            raise ValueError(f"trial_key: invalid value {trial_key!r}; allowed: 1-128 letters, digits, '_', '-'")
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

    def _listing(self) -> tuple[list[str], dict[str, str]]:
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.root))
        except FileNotFoundError:
            return [], {}
        files, bad = [], {}
        for i in infos:
            if i.base_name.startswith((".", "_")):  # temporaries, archives, the quarantine: not the dataset
                continue
            if i.type != pafs.FileType.File:
                bad[i.path] = "not a trial file (a folder)"
            elif not (i.base_name.endswith(".parquet") and KEY_RE.match(i.base_name[: -len(".parquet")])):
                bad[i.path] = "not a trial file (expected <trial_key>.parquet)"
            else:
                files.append(i.path)
        return sorted(files), bad

    def scan(self, columns: list[str] | None = None) -> Scan:
        """Every valid row (of ``columns``, default all), and the files that are not valid trial
        files (with the reason). One dataset read when all is well; file by file only to find
        what is damaged. Part files first: a trial file whose key a part holds is skipped."""
        files, bad = self._listing()
        cols = None if columns is None else list(dict.fromkeys([*columns, "trial_key"]))
        parts = [f for f in files if f.rsplit("/", 1)[-1].startswith(PART_PREFIX)]
        loose = [f for f in files if f not in set(parts)]
        part_table = self._read_valid(parts, cols, bad)
        stand_ins: list[str] = []
        part_table = pa.concat_tables([part_table, self._stand_ins(parts, bad, cols, stand_ins)])
        in_parts = set(part_table.column("trial_key").to_pylist()) if part_table.num_rows else set()
        duplicates = [f for f in loose if _stem(f) in in_parts]
        loose = [f for f in loose if _stem(f) not in in_parts]
        table = pa.concat_tables([part_table, self._read_valid(loose, cols, bad)])
        return Scan(table if columns is None else table.select(columns), bad, duplicates, [_stem(f) for f in loose],
                    stand_ins)

    def _stand_ins(self, parts: list[str], bad: dict[str, str], columns: list[str] | None,
                   used: list[str]) -> pa.Table:
        """The checksummed copies of parts that are missing or unreadable (``bad``), their names
        added to ``used``: their rows are not lost, and ``run``/``resume`` rebuild the parts from them."""
        present = {p.rsplit("/", 1)[-1] for p in parts if p not in bad}
        copies = [(n, self.copies.good_copy(n)) for n in self.copies.names() if n not in present]
        for name, copy in copies:
            path = f"{self.root}/{name}"
            if copy is not None:
                used.append(name)
                if path in bad:
                    bad[path] += "; its checksummed copy is read instead (run/resume rebuild it)"
        return self._read([c for _, c in copies if c is not None], columns)

    def _read_valid(self, files: list[str], columns: list[str] | None, bad: dict[str, str]) -> pa.Table:
        try:
            return self._read(files, columns)
        except (pa.ArrowException, OSError):
            pass
        good = []
        for path in files:
            try:
                with self.fs.open_input_file(path) as f:
                    pq.read_table(f, schema=SCHEMA)
                good.append(path)
            except (pa.ArrowException, OSError) as e:
                bad[path] = f"unreadable Parquet ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        return self._read(good, columns)

    def _read(self, files: list[str], columns: list[str] | None = None) -> pa.Table:
        if not files:
            return SCHEMA.empty_table() if columns is None else SCHEMA.empty_table().select(columns)
        return ds.dataset(files, schema=SCHEMA, format="parquet", filesystem=self.fs).to_table(columns=columns)

    def table(self, repair: bool = False, log=print, columns: list[str] | None = None) -> pa.Table:
        """The valid rows (of ``columns``). With ``repair``, damaged and stray files are moved to
        the quarantine first (``quarantine``); without, they are only left out, with a warning."""
        return self.checked(repair, log, columns).table

    def checked(self, repair: bool = False, log=print, columns: list[str] | None = None) -> Scan:
        """``scan``, then (with ``repair``) quarantine what is damaged and delete trial files a
        part already holds; without, warn about what is left out."""
        if repair:
            self.copies.restore(lambda bad: self.quarantine(bad, log), log)
        scan = self.scan(columns)
        if scan.bad:
            if repair:
                self.quarantine(scan.bad, log)
            else:
                for path, why in scan.bad.items():
                    log(f"warning: results: {path}: {why}" + ("" if "copy is read" in why else "; left out"))
        for name in scan.stand_ins:
            if f"{self.root}/{name}" not in scan.bad:
                log(f"warning: results: {self.root}/{name} is missing; its checksummed copy is read instead "
                    f"(run/resume rebuild it)")
        if scan.duplicates and repair:
            for path in scan.duplicates:
                self.fs.delete_file(path)
            log(f"results: removed {len(scan.duplicates)} trial files that a part file already holds "
                f"(a compaction was interrupted)")
        if repair:
            self.copies.adopt([f for f in self._listing()[0] if f.rsplit("/", 1)[-1].startswith(PART_PREFIX)])
        return scan

    def compact(self, rows: Iterable[Mapping[str, Any]], log=print) -> str | None:
        """Move finished trials' rows into one new part file (with a checksummed copy, see
        study/engine/parts.py), then delete their own files once the part reads back with its
        checksum; ``rows`` hold every row of those trials. Returns the part's path (None when
        it did not verify: then the trials' own files stay, and the part is quarantined)."""
        table = to_table(rows)
        if not table.num_rows:
            return None
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
        name = f"{PART_PREFIX}{uuid.uuid4().hex}.parquet"
        path = f"{self.root}/{name}"
        self.copies.save(name, data)
        self.copies.write_atomic(path, data)
        if not self._verify(path, digest(data), table.num_rows):
            self.quarantine({path: "did not read back as written"}, log)
            return None
        for key in sorted(set(table.column("trial_key").to_pylist())):
            try:
                self.fs.delete_file(self.path(key))
            except FileNotFoundError:
                pass
        return path

    def _verify(self, path: str, sha: str, num_rows: int) -> bool:
        """Whether the part at ``path`` has these bytes and reads as ``num_rows`` rows."""
        data = self.copies.verified(path, sha)
        if data is None:
            return False
        try:
            return pq.read_table(pa.BufferReader(data), schema=SCHEMA).num_rows == num_rows
        except (pa.ArrowException, OSError):
            return False

    def quarantine(self, bad: Mapping[str, str], log=print) -> str:
        """Move these files into ``results/.quarantine/`` (kept, out of the dataset), naming each."""
        folder = f"{self.root}/{QUARANTINE}"
        self.fs.create_dir(folder, recursive=True)
        for path, why in bad.items():
            name = path.rsplit("/", 1)[-1]
            target = f"{folder}/{name}"
            if self.fs.get_file_info(target).type != pafs.FileType.NotFound:
                target = f"{folder}/{uuid.uuid4().hex[:8]}-{name}"
            self.fs.move(path, target)
            log(f"warning: results: {path}: {why}; moved to {target}")
        return folder

    def archive(self, trial_keys: Iterable[str], name: str) -> str:
        """Move these trials' files into ``results/.<name>/``: out of the dataset (readers skip
        dot-folders) but kept."""
        folder = f"{self.root}/.{name}"
        self.fs.create_dir(folder, recursive=True)
        for key in trial_keys:
            self.fs.move(self.path(key), f"{folder}/{key}.parquet")
        return folder


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1][: -len(".parquet")]


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
