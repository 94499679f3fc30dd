"""Prepared datasets: decoded once into uint8 arrays per split plus a manifest, memory-mapped by
every trial (trials packed on a node share one copy in the page cache).

Layout: ``<prepared root>/<dataset>-<R>px-<crop>[-<train split>]/`` (a ``folder`` collection:
``folder-<its name>-<R>px-<crop>``) holding ``train.npy``, ``test.npy`` (uint8, (n, 3, R, R)),
``<split>_labels.npy`` where the source has labels, ``test_index.npy`` for image collections
and ``manifest.json``: the source's files and their sha256, the counts, the crop policy, how the
splits were made, each array's sha256 and the train split's channel statistics. The manifest
names no absolute path and no time, so two nodes preparing the same files get the same
manifest, and its sha256 (``manifest_sha256``) identifies the data in every result row.

The prepared root is ``prepared_dir``, else ``$GAN_STUDY_PREPARED``, else ``<data_dir>/prepared``
(for ``folder``: ``prepared/`` beside the collection). Preparing is atomic and safe when many
processes start at once: an exclusive ``fcntl.flock`` on ``.<name>.lock``, a re-check, then the
set is written into a temporary directory renamed into place. A bad input raises DataError
and leaves nothing behind. A prepared set that exists is used without reading the source.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from study.gan.data.errors import DataError
from study.gan.data.sources import PREPARED_DIR_ENV, SOURCES, DataOptions, Located, Source
from study.gan.data.transform import CROPS
from study.gan.hashing import sha256_of

FORMAT = 1
MANIFEST = "manifest.json"
STATS_MAX_IMAGES = 50_000  # channel statistics from at most this many evenly strided train images
LISTED_FILES_MAX = 64  # more source files than this: one digest over (path, bytes, sha256) lines


@dataclass(frozen=True)
class PreparedSet:
    path: Path
    manifest: dict[str, Any]
    manifest_sha256: str

    def images(self, split: str) -> np.ndarray:
        """uint8 (n, 3, R, R), memory-mapped read-only."""
        return np.load(self.path / f"{split}.npy", mmap_mode="r")

    def labels(self, split: str) -> np.ndarray | None:
        path = self.path / f"{split}_labels.npy"
        return np.load(path) if path.is_file() else None


def resolved(options: DataOptions) -> tuple[Source, str, str]:
    """The source, its crop policy and its training split, each checked."""
    source = SOURCES.get(options.dataset, "dataset")
    crop, train_split = source.crop_of(options), source.train_split_of(options)
    if crop not in CROPS:
        raise DataError(options.dataset, "crop", f"invalid value {crop!r}", f"one of {', '.join(CROPS)}")
    if train_split not in source.train_splits:
        raise DataError(options.dataset, "train_split", f"invalid value {train_split!r}",
                        f"one of {', '.join(source.train_splits)}")
    return source, crop, train_split


def prepared_path(options: DataOptions) -> Path:
    source, crop, train_split = resolved(options)
    base_text = options.prepared_dir or os.environ.get(PREPARED_DIR_ENV, "")
    if source.name == "folder":
        data = options.root()
        name = f"folder-{data.stem}-{options.resolution}px-{crop}"
        base = Path(base_text).expanduser() if base_text else data.parent / "prepared"
    else:
        name = f"{source.name}-{options.resolution}px-{crop}"
        if len(source.train_splits) > 1:
            name += f"-{train_split.replace('+', '_')}"
        root = options.root()  # a data_dir naming the archive itself (cifar-10-python.tar.gz): beside it
        base = Path(base_text).expanduser() if base_text else (root.parent if root.is_file() else root) / "prepared"
    return base / name


def open_prepared(path: Path) -> PreparedSet | None:
    """The prepared set at ``path``, or None when there is none (an incomplete one is an error)."""
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        return None
    raw = manifest_file.read_bytes()
    manifest = json.loads(raw)
    for split, info in manifest["splits"].items():
        array = path / f"{split}.npy"
        if not array.is_file() or array.stat().st_size != info["bytes"]:
            raise DataError(manifest["dataset"], array, "missing or of the wrong size",
                            f"{info['bytes']:,} bytes as {path / MANIFEST} records; delete {path} to prepare again")
    return PreparedSet(path, manifest, hashlib.sha256(raw).hexdigest())


def check_source(options: DataOptions) -> Located:
    """The source's files, found and checked (presence, sizes, checksums), without decoding."""
    source, _, _ = resolved(options)
    return source.locate(options.root())


def ensure_prepared(options: DataOptions, log=None) -> PreparedSet:
    """The prepared set for ``options``, prepared first if no process has done it yet."""
    path = prepared_path(options)
    found = open_prepared(path)
    if found is not None:
        return found
    located = check_source(options)  # a missing or bad source fails before anything is written
    with _locked(path):
        found = open_prepared(path)  # another process may have prepared it while we waited
        if found is not None:
            return found
        if log:
            log(f"preparing {options.dataset} at {options.resolution} px from {located.root} into {path}")
        _build(options, located, path)
    found = open_prepared(path)
    assert found is not None
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = path.parent / f".{path.name}.lock"
    try:
        with open(lock_file, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    except BaseException:  # a failed preparation leaves nothing behind: no lock file, no folders it made
        lock_file.unlink(missing_ok=True)
        for p in created:
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


def _build(options: DataOptions, located: Located, path: Path) -> None:
    source, crop, train_split = resolved(options)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        plan = source.plan(located, options, crop, train_split)
        r = options.resolution
        arrays = {s: np.lib.format.open_memmap(tmp / f"{s}.npy", mode="w+", dtype=np.uint8, shape=(n, 3, r, r))
                  for s, n in plan.counts.items()}
        plan.fill(arrays)
        for a in arrays.values():
            a.flush()
        mean, std = channel_statistics(arrays["train"])
        del arrays
        for s, y in plan.labels.items():
            np.save(tmp / f"{s}_labels.npy", y.astype(np.int64))
        if plan.test_index is not None:
            np.save(tmp / "test_index.npy", plan.test_index.astype(np.int64))
        manifest = {
            "format": FORMAT, "dataset": source.name, "resolution": r, "channels": 3, "dtype": "uint8",
            "layout": "(n, channels, height, width)", "crop": crop, "crop_policy": CROPS[crop],
            "train_split": train_split, "source": _source_record(located),
            "splits": {s: {"count": n, "bytes": (tmp / f"{s}.npy").stat().st_size,
                           "sha256": sha256_of(tmp / f"{s}.npy"), "labels": s in plan.labels}
                       for s, n in plan.counts.items()},
            "split": plan.split_info, "fid_real_samples": source.fid_real_samples,
            "channel_mean": [round(float(m), 8) for m in mean], "channel_std": [round(float(s), 8) for s in std],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(tmp, path)
        except OSError:
            if open_prepared(path) is None:  # not another process's finished set: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def channel_statistics(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of train images in [0, 1] (float64), over at most
    STATS_MAX_IMAGES evenly strided images."""
    step = max(1, len(train) // STATS_MAX_IMAGES)
    total = np.zeros(3)
    squares = np.zeros(3)
    count = 0
    for i in range(0, len(train), step * 1024):
        x = np.asarray(train[i : i + step * 1024 : step], dtype=np.float64) / 255.0
        total += x.sum(axis=(0, 2, 3))
        squares += (x * x).sum(axis=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / max(count, 1)
    var = squares / max(count, 1) - mean * mean
    return mean, np.sqrt(np.maximum(var * count / max(count - 1, 1), 0.0))


def _source_record(located: Located) -> dict[str, Any]:
    base = located.root if located.kind in ("dir",) else located.root.parent
    files = [{"path": p.relative_to(base).as_posix() if p.is_relative_to(base) else p.name,
              "bytes": p.stat().st_size, "sha256": sha256_of(p)} for p in located.files]
    record: dict[str, Any] = {"kind": located.kind, "name": located.root.name, "files_count": len(files),
                              "bytes": sum(f["bytes"] for f in files)}
    if len(files) <= LISTED_FILES_MAX:
        record["files"] = files
    else:
        lines = "".join(f"{f['path']}\t{f['bytes']}\t{f['sha256']}\n" for f in files)
        record["files_sha256"] = hashlib.sha256(lines.encode()).hexdigest()
        record["files_digest"] = "sha256 of the lines 'path<TAB>bytes<TAB>sha256' in sorted path order"
    return record
