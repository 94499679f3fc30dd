"""Where a trial's files go: sample grids and its best generator.

A trial writes through an ``Artifacts`` sink: ``write(kind, name, data)``. ``ArtifactDir``
puts each file at ``<root>/<kind>/<trial_key>/<name>`` on any filesystem pyarrow reaches (a
local path, NFS, s3://, gs://), written under a temporary name and then moved into place, so
a reader never sees half a file. The engine points ``root`` at the study directory, which every
node of a cluster reaches, so nothing has to be copied back from the node a trial ran on.
"""
from __future__ import annotations

import uuid
from typing import Protocol

SAMPLES = "samples"  # <kind> of sample grids: best.png, final.png, step-<n>.png
GENERATORS = "generators"  # <kind> of generator files: best.pt
BEST_GENERATOR = "best.pt"


class Artifacts(Protocol):
    def write(self, kind: str, name: str, data: bytes) -> None: ...


class ArtifactDir:
    """Files of one trial under ``<root>/<kind>/<trial_key>/``."""

    def __init__(self, root: str, trial_key: str) -> None:
        import pyarrow.fs as pafs

        self.root, self.trial_key = str(root).rstrip("/"), trial_key
        self.fs, path = pafs.FileSystem.from_uri(self.root) if "://" in self.root else (pafs.LocalFileSystem(),
                                                                                          self.root)
        self.base = path.rstrip("/")

    def folder(self, kind: str) -> str:
        return f"{self.base}/{kind}/{self.trial_key}"

    def write(self, kind: str, name: str, data: bytes) -> None:
        folder = self.folder(kind)
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}-{name}"
        with self.fs.open_output_stream(tmp) as out:
            out.write(data)
        self.fs.move(tmp, f"{folder}/{name}")
