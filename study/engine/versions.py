"""Every version of the study file a study directory ran, and which trials each one ran.

``study.yaml`` is always the current version. The first extension (study/engine/extension.py)
starts ``versions/``: ``v1.yaml`` (the file the study began with), ``v2.yaml``, ... verbatim, and
``versions/index.json`` with each version's sha256 and the UTC time it took over. A trial belongs
to the version that was current when its final row was stored (the driver's ``timestamp``), so
that ``status`` and the report can say which trials came from which version. A directory with
no ``versions/`` ran one version only.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass

import pandas as pd
import pyarrow.fs as pafs

INDEX = "versions/index.json"


@dataclass(frozen=True)
class Version:
    number: int
    file: str  # relative to the study directory
    sha256: str
    recorded_at: str | None  # ISO 8601 UTC; None: the first version, current from the study's start


def _fs(study_dir: str) -> tuple[pafs.FileSystem, str]:
    if "://" in study_dir:
        fs, root = pafs.FileSystem.from_uri(study_dir)
        return fs, root.rstrip("/")
    return pafs.LocalFileSystem(), study_dir.rstrip("/")


def _write(fs: pafs.FileSystem, path: str, text: str) -> None:
    """Atomically (a temporary name, then a rename): a crash never leaves half a file."""
    tmp = f"{path.rsplit('/', 1)[0]}/.{path.rsplit('/', 1)[1]}.tmp"
    with fs.open_output_stream(tmp) as out:
        out.write(text.encode())
    fs.move(tmp, path)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_versions(study_dir: str) -> list[Version]:
    """The recorded versions, oldest first (one, ``study.yaml``, when the study never grew)."""
    fs, root = _fs(study_dir)
    path = f"{root}/{INDEX}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return [Version(1, "study.yaml", "", None)]
    with fs.open_input_stream(path) as f:
        return [Version(**v) for v in json.loads(f.read().decode())]


def record_version(study_dir: str, old_text: str, new_text: str) -> Version:
    """Keep ``old_text`` (as v1 if nothing is recorded yet) and make ``new_text`` the current version:
    its file, then the index, then ``study.yaml``; recording the same text again adds nothing."""
    fs, root = _fs(study_dir)
    versions = read_versions(study_dir) if fs.get_file_info(f"{root}/{INDEX}").type == pafs.FileType.File else []
    fs.create_dir(f"{root}/versions", recursive=True)
    if not versions:
        _write(fs, f"{root}/versions/v1.yaml", old_text)
        versions = [Version(1, "versions/v1.yaml", _sha(old_text), None)]
    if versions[-1].sha256 != _sha(new_text):
        n = versions[-1].number + 1
        _write(fs, f"{root}/versions/v{n}.yaml", new_text)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        versions.append(Version(n, f"versions/v{n}.yaml", _sha(new_text), now))
        _write(fs, f"{root}/{INDEX}", json.dumps([asdict(v) for v in versions], indent=1))
    _write(fs, f"{root}/study.yaml", new_text)
    return versions[-1]


def version_of(versions: list[Version], timestamp: dt.datetime | None) -> int:
    """The version current at ``timestamp`` (a row's UTC time; None: the first)."""
    current = versions[0].number
    for v in versions[1:]:
        if timestamp is not None and v.recorded_at is not None and timestamp >= dt.datetime.fromisoformat(
                v.recorded_at):
            current = v.number
    return current


def version_table(versions: list[Version], rows: pd.DataFrame) -> pd.DataFrame:
    """Per version: its file, when it took over, and the finished trials per phase it ran
    (``rows``: the store's phase, trial_key, is_final and timestamp columns)."""
    final = rows[rows["is_final"].astype(bool)] if len(rows) else rows
    owner = [version_of(versions, None if pd.isna(t) else t.to_pydatetime()) for t in final["timestamp"]]
    counts = pd.crosstab(pd.Series(owner, dtype=int, name="version"), final["phase"].to_numpy()) if len(final) \
        else pd.DataFrame()
    table = pd.DataFrame([{"version": v.number, "file": v.file, "since": v.recorded_at or "start"}
                          for v in versions]).set_index("version")
    for phase in ("grid", "bo", "seeds"):
        table[phase] = counts[phase].reindex(table.index, fill_value=0) if phase in counts else 0
    return table


def study_versions(study_dir: str) -> pd.DataFrame:
    """The version table of a study directory (any pyarrow URI)."""
    from study.engine.store import ResultsStore

    rows = ResultsStore(study_dir, create=False).table(log=lambda *a, **k: None,
                                                       columns=["phase", "trial_key", "is_final", "timestamp"])
    return version_table(read_versions(study_dir), rows.to_pandas())
