"""STL-10, the binary version (Coates, Ng and Lee 2011, https://cs.stanford.edu/~acoates/stl10/).

Found as ``stl10_binary/`` under the data directory (or that folder's files directly):
``train_X.bin`` (5,000), ``test_X.bin`` (8,000), ``unlabeled_X.bin`` (100,000) and the labels
``train_y.bin`` / ``test_y.bin`` (one byte each, 1..10; read as 0..9 when present). Each image
is 3 x 96 x 96 bytes: the red plane, then green, then blue, each stored column-major (so a
plane reads as (x, y) and is transposed here). File sizes are checked against the published
counts (``COUNTS``; a test may pass others): a truncated file is an error.

Which split trains is the ``train_split`` setting: ``unlabeled`` (the default: SN-GAN, Miyato
et al. 2018, trains on the 100k unlabeled images, at 48 px), ``train`` or ``train+unlabeled``;
the test split is ``test_X.bin``. Resizing 96 -> R uses the crop policy (default
``center_crop_resize``: a plain bicubic resize of the square image).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from study.gan.data.errors import DataError
from study.gan.data.sources import SOURCES, DataOptions, Located, Plan, Source
from study.gan.data.transform import fit_array

NAME = "stl10"
FOLDER = "stl10_binary"
SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
COUNTS = {"train": 5_000, "test": 8_000, "unlabeled": 100_000}  # images per file, as published
TRAIN_SPLITS = ("unlabeled", "train", "train+unlabeled")


def _folder(data_dir: Path) -> Path:
    for folder in (data_dir / FOLDER, data_dir):
        if (folder / "test_X.bin").exists() or (folder / "unlabeled_X.bin").exists():
            return folder
    what = "no such directory" if not data_dir.exists() else f"no {FOLDER}/ there"
    raise DataError(NAME, data_dir, what, f"{FOLDER}/ with train_X.bin, test_X.bin, unlabeled_X.bin "
                                          f"(the STL-10 binary version)")


def _checked(path: Path, part: str, counts: dict[str, int]) -> Path:
    if not path.is_file():
        raise DataError(NAME, path, "missing", f"the STL-10 binary file {path.name}")
    size, want = path.stat().st_size, counts[part] * IMAGE_BYTES
    if size != want:
        raise DataError(NAME, path, f"{size:,} bytes (truncated or a different file)",
                        f"{want:,} bytes ({counts[part]:,} images of 3x96x96)")
    return path


def locate(data_dir: Path, counts: dict[str, int] | None = None) -> Located:
    folder = _folder(data_dir)
    counts = counts or COUNTS
    files = tuple(_checked(folder / f"{p}_X.bin", p, counts) for p in ("train", "test", "unlabeled"))
    return Located(folder, files, "dir")


def read_part(folder: Path, part: str) -> np.ndarray:
    """uint8 (n, 3, 96, 96) view (a memory map) of ``<part>_X.bin`` in row-major (C, H, W) order."""
    raw = np.memmap(folder / f"{part}_X.bin", dtype=np.uint8, mode="r")
    return raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2)  # planes are stored column-major


def read_labels(folder: Path, part: str, n: int) -> np.ndarray | None:
    path = folder / f"{part}_y.bin"
    if not path.is_file():
        return None
    labels = np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1
    if len(labels) != n:
        raise DataError(NAME, path, f"{len(labels)} labels", f"{n} (one byte per image of {part}_X.bin)")
    return labels


def plan(located: Located, options: DataOptions, crop: str, train_split: str) -> Plan:
    parts = {"train": train_split.split("+"), "test": ["test"]}
    arrays = {s: [read_part(located.root, p) for p in ps] for s, ps in parts.items()}
    labels = {}
    for s, ps in parts.items():
        got = [read_labels(located.root, p, len(a)) for p, a in zip(ps, arrays[s])] if "unlabeled" not in ps else [None]
        if all(y is not None for y in got):
            labels[s] = np.concatenate(got)

    def fill(out: dict[str, np.ndarray]) -> None:
        for s, blocks in arrays.items():
            at = 0
            for block in blocks:
                for i in range(0, len(block), 2048):
                    chunk = fit_array(np.ascontiguousarray(block[i : i + 2048]), options.resolution, crop)
                    out[s][at : at + len(chunk)] = chunk
                    at += len(chunk)

    return Plan({s: sum(len(b) for b in blocks) for s, blocks in arrays.items()}, fill, labels,
                {"train": " + ".join(f"{p}_X.bin" for p in parts["train"]), "test": "test_X.bin"})


SOURCES.register(NAME)(Source(NAME, locate, plan, default_crop="center_crop_resize", train_splits=TRAIN_SPLITS,
                              labelled_splits=("train",),
                              description="STL-10 binary version (stl10_binary/)"))
