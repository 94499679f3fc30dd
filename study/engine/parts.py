"""Checksummed copies of part files: what makes one damaged part file cost nothing.

A part (``results/part-<id>.parquet``, up to 256 finished trials) is written twice: the part
itself, in the dataset, and a copy ``results/.parts/part-<id>.parquet`` beside the record
``results/.parts/part-<id>.sha256`` of its bytes' sha256 (readers skip dot-folders, so the
copy never doubles a row). The trials' own files are deleted only once the part reads back
with that checksum. ``restore`` rebuilds a missing, truncated or junk part from its copy and a
damaged copy from its part, so rows are lost only when both are damaged; then the driver runs
those trials again (study/engine/bo.py, study/engine/phases.py).
"""
from __future__ import annotations

import hashlib
import uuid

import pyarrow.fs as pafs

COPIES = ".parts"
RECORD = ".sha256"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PartCopies:
    """The copies and checksums of the part files in one results folder."""

    def __init__(self, fs: pafs.FileSystem, results: str) -> None:
        self.fs, self.results, self.folder = fs, results, f"{results}/{COPIES}"

    def _read(self, path: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(path) as f:
                return f.read()
        except (FileNotFoundError, OSError):
            return None

    def write_atomic(self, path: str, data: bytes) -> None:
        """Write atomically (a temporary name starting with '.', then a rename)."""
        folder, name = path.rsplit("/", 1)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}-{name}"
        with self.fs.open_output_stream(tmp) as out:
            out.write(data)
        self.fs.move(tmp, path)

    def record(self, name: str) -> str | None:
        """The sha256 recorded for part ``name`` (``part-<id>.parquet``), or None."""
        data = self._read(f"{self.folder}/{name[: -len('.parquet')]}{RECORD}")
        return data.decode().strip() if data else None

    def save(self, name: str, data: bytes) -> str:
        """Keep a copy of part ``name`` and its checksum (before the part itself is written)."""
        self.fs.create_dir(self.folder, recursive=True)
        self.write_atomic(f"{self.folder}/{name}", data)
        self.write_atomic(f"{self.folder}/{name[: -len('.parquet')]}{RECORD}", digest(data).encode())
        return digest(data)

    def verified(self, path: str, sha: str | None) -> bytes | None:
        """The bytes at ``path`` when their sha256 is ``sha``, else None."""
        data = self._read(path)
        return data if data is not None and sha is not None and digest(data) == sha else None

    def names(self) -> list[str]:
        """Every part that has a recorded checksum."""
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.folder))
        except FileNotFoundError:
            return []
        return sorted(i.base_name[: -len(RECORD)] + ".parquet" for i in infos
                      if i.base_name.endswith(RECORD) and not i.base_name.startswith("."))

    def good_copy(self, name: str) -> str | None:
        """The path of part ``name``'s copy when it matches its checksum (a stand-in for a damaged part)."""
        path = f"{self.folder}/{name}"
        return path if self.verified(path, self.record(name)) is not None else None

    def restore(self, quarantine, log) -> list[str]:
        """Make every recorded part and its copy match the checksum again, from whichever
        survives; a damaged part goes to the quarantine first (``quarantine({path: why})``).
        Returns the parts whose rows are lost (both damaged)."""
        lost = []
        for name in self.names():
            sha, part, copy = self.record(name), f"{self.results}/{name}", f"{self.folder}/{name}"
            part_ok, copy_data = self.verified(part, sha), self.verified(copy, sha)
            if part_ok is not None and copy_data is not None:
                continue
            if part_ok is None and copy_data is not None:
                if self.fs.get_file_info(part).type != pafs.FileType.NotFound:
                    quarantine({part: "does not match its recorded sha256"})
                self.write_atomic(part, copy_data)
                log(f"results: {name} was missing or damaged; rebuilt from its checksummed copy {copy}")
            elif part_ok is not None:
                self.write_atomic(copy, part_ok)
                log(f"results: the copy of {name} was missing or damaged; rewritten from the part")
            else:
                lost.append(name)
                record = f"{self.folder}/{name[: -len('.parquet')]}{RECORD}"
                quarantine({p: "a part lost with its copy" for p in (copy, record)
                            if self.fs.get_file_info(p).type == pafs.FileType.File})
                log(f"warning: results: {name} and its copy are both missing or damaged; its trials run again")
        return lost

    def adopt(self, paths: list[str]) -> None:
        """Record a checksum and copy for parts written before copies were kept (once)."""
        for path in paths:
            name = path.rsplit("/", 1)[-1]
            if self.record(name) is None and (data := self._read(path)) is not None:
                self.save(name, data)
