"""CIFAR-10, the "python version" (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html).

Found under the data directory as the extracted ``cifar-10-batches-py/`` (``data_batch_1`` ..
``data_batch_5``, ``test_batch``), as that folder's files directly, or as the archive
``cifar-10-python.tar.gz`` beside them or named as the data directory itself, whose published
md5 is checked (``ARCHIVE_MD5``; a test may pass another). Each batch is a pickled dict:
``data`` uint8 (n, 3072), a row holding the red 1,024 pixels, then green, then blue, each
32 x 32 row-major; ``labels`` n integers 0..9.
Train = the five data batches in order (50,000), test = ``test_batch`` (10,000). The pickles
are read by an unpickler that admits only NumPy arrays and plain containers (no code runs from
a file). At a resolution other than 32 the images go through the crop policy (default
``center_crop_resize``: a plain bicubic resize of the square image). FID protocol (Kurach et al.
2019): the 10,000 test images.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from study.gan.data.errors import DataError
from study.gan.data.sources import SOURCES, DataOptions, Located, Plan, Source
from study.gan.data.transform import fit_array

NAME = "cifar10"
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"  # published at the URL above
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
EXPECTED = f"{FOLDER}/ with {', '.join(TRAIN_FILES)}, {TEST_FILE} (or {ARCHIVE}) from the CIFAR-10 python version"
_ALLOWED_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in a data file")
        return super().find_class(module, name)


def file_md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - the checksum CIFAR-10 publishes
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def locate(data_dir: Path, archive_md5: str | None = None) -> Located:
    """The batches folder, or the archive in ``data_dir`` or ``data_dir`` itself (the path a user
    gives to the file they downloaded), md5-checked against ``archive_md5`` or ARCHIVE_MD5."""
    for folder in (data_dir / FOLDER, data_dir):
        if (folder / TRAIN_FILES[0]).exists() or (folder / TEST_FILE).exists():
            missing = [n for n in (*TRAIN_FILES, TEST_FILE) if not (folder / n).is_file()]
            if missing:
                raise DataError(NAME, folder / missing[0], "missing", EXPECTED)
            return Located(folder, tuple(folder / n for n in (*TRAIN_FILES, TEST_FILE)), "dir")
    archive = data_dir if data_dir.is_file() else data_dir / ARCHIVE
    if archive.is_file():
        expected = archive_md5 or ARCHIVE_MD5
        got = file_md5(archive)
        if got != expected:
            raise DataError(NAME, archive, f"md5 {got} (a truncated or different file)",
                            f"the published md5 {expected}")
        return Located(archive, (archive,), "tar.gz")
    what = "no such directory" if not data_dir.exists() else f"neither {FOLDER}/ nor {ARCHIVE} is there"
    raise DataError(NAME, data_dir, what, EXPECTED)


def _load_batch(raw: bytes, where: Path | str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as e:  # noqa: BLE001 - truncated, not a pickle, wrong keys: one message
        raise DataError(NAME, where, f"unreadable batch ({type(e).__name__}: {e})",
                        "a CIFAR-10 python-version batch (a pickled dict with 'data' and 'labels')") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(NAME, where, f"data of shape {data.shape} with {len(labels)} labels",
                        "data (n, 3072) uint8 and n labels")
    return data.reshape(-1, 3, 32, 32), labels  # channel-first rows: R plane, G plane, B plane


def read_batches(located: Located) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split -> (uint8 (n, 3, 32, 32), int64 labels), from the folder or the archive."""
    raws: dict[str, bytes] = {}
    if located.kind == "tar.gz":
        try:
            with tarfile.open(located.root, "r:gz") as tar:
                for name in (*TRAIN_FILES, TEST_FILE):
                    member = tar.extractfile(f"{FOLDER}/{name}")
                    if member is None:
                        raise KeyError(name)
                    raws[name] = member.read()
        except (KeyError, tarfile.TarError, OSError, EOFError) as e:
            raise DataError(NAME, located.root, f"unreadable archive ({type(e).__name__}: {e})", EXPECTED) from None
        where = {n: f"{located.root}:{FOLDER}/{n}" for n in raws}
    else:
        raws = {n: (located.root / n).read_bytes() for n in (*TRAIN_FILES, TEST_FILE)}
        where = {n: located.root / n for n in raws}
    train = [_load_batch(raws[n], where[n]) for n in TRAIN_FILES]
    test = _load_batch(raws[TEST_FILE], where[TEST_FILE])
    return {"train": (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])), "test": test}


def plan(located: Located, options: DataOptions, crop: str, train_split: str) -> Plan:
    splits = read_batches(located)

    def fill(out: dict[str, np.ndarray]) -> None:
        for split, (images, _) in splits.items():
            for i in range(0, len(images), 4096):
                out[split][i : i + 4096] = fit_array(images[i : i + 4096], options.resolution, crop)

    return Plan({s: len(x) for s, (x, _) in splits.items()}, fill, {s: y for s, (_, y) in splits.items()},
                {"train": "data_batch_1..5 in order", "test": "test_batch"})


SOURCES.register(NAME)(Source(NAME, locate, plan, default_crop="center_crop_resize", labelled_splits=("train",),
                              fid_real_samples=10_000,
                              description="CIFAR-10 python version (cifar-10-batches-py/ or cifar-10-python.tar.gz)"))
