"""Small files in each dataset's exact distributed format, in which every pixel encodes its
image index, channel, row and column (``value``), so that a test can tell where each pixel went.

The writers lay the bytes out as each format's documentation says, from flat byte positions
(CIFAR: channel-major rows; STL-10: column-major planes), independently of the readers.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


def value(i, c, r, col):
    """The pixel (image i, channel c, row r, column col) of every fake: asymmetric in row and
    column and different per channel, so a transposition or a channel mix-up changes the array."""
    return (i * 37 + c * 85 + r * 7 + col * 3 + (r * col) % 5) % 256


def images(indices, height: int, width: int) -> np.ndarray:
    """Expected uint8 (n, 3, H, W) of the fakes ``indices`` (row-major, channel-first)."""
    i, c, r, col = np.meshgrid(np.asarray(indices), np.arange(3), np.arange(height), np.arange(width), indexing="ij")
    return value(i, c, r, col).astype(np.uint8)


@dataclass
class Fake:
    """A written fake and what preparing it must give."""

    data_dir: Path
    resolution: int
    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    patches: dict = field(default_factory=dict)  # (module, attribute) -> value for the test's monkeypatch
    options: dict = field(default_factory=dict)  # extra DataOptions fields


# ---- CIFAR-10 -------------------------------------------------------------------------------
CIFAR_PER_BATCH, CIFAR_TEST = 3, 4


def _cifar_rows(indices) -> np.ndarray:
    k = np.arange(3072)
    c, r, col = k // 1024, (k % 1024) // 32, k % 32  # R plane, G plane, B plane; each row-major
    return np.stack([value(i, c, r, col) for i in indices]).astype(np.uint8)


def _cifar_batches() -> dict[str, bytes]:
    out = {}
    for b in range(6):
        name = f"data_batch_{b + 1}" if b < 5 else "test_batch"
        idx = list(range(b * CIFAR_PER_BATCH, b * CIFAR_PER_BATCH + (CIFAR_PER_BATCH if b < 5 else CIFAR_TEST)))
        d = {b"batch_label": name.encode(), b"labels": [i % 10 for i in idx], b"data": _cifar_rows(idx),
             b"filenames": [f"img{i}.png".encode() for i in idx]}
        out[name] = pickle.dumps(d, protocol=2)
    return out


def cifar10_dir(root: Path) -> Fake:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, raw in _cifar_batches().items():
        (folder / name).write_bytes(raw)
    n_train = 5 * CIFAR_PER_BATCH
    test_idx = range(n_train, n_train + CIFAR_TEST)
    return Fake(root, 32, images(range(n_train), 32, 32), images(test_idx, 32, 32),
                np.arange(n_train) % 10, np.asarray(test_idx) % 10)


def cifar10_archive(root: Path) -> Fake:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in _cifar_batches().items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    fake = cifar10_dir(root / "unused")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324
    import shutil

    shutil.rmtree(root / "unused")
    return Fake(root, 32, fake.train, fake.test, fake.train_labels, fake.test_labels,
                patches={("study.gan.data.cifar10", "ARCHIVE_MD5"): md5})


# ---- STL-10 ---------------------------------------------------------------------------------
STL_COUNTS = {"train": 2, "test": 3, "unlabeled": 4}


def _stl_bytes(indices) -> bytes:
    k = np.arange(3 * 96 * 96)
    c, within = k // 9216, k % 9216
    col, r = within // 96, within % 96  # each plane column-major: the row index runs fastest
    return np.stack([value(i, c, r, col) for i in indices]).astype(np.uint8).tobytes()


def stl10(root: Path, resolution: int = 96, train_split: str = "") -> Fake:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    start = {"train": 0, "test": 100, "unlabeled": 200}
    for part, n in STL_COUNTS.items():
        idx = range(start[part], start[part] + n)
        (folder / f"{part}_X.bin").write_bytes(_stl_bytes(idx))
        if part != "unlabeled":
            (folder / f"{part}_y.bin").write_bytes(bytes((i % 10) + 1 for i in idx))
    split = train_split or "unlabeled"
    train_idx = [i for p in split.split("+") for i in range(start[p], start[p] + STL_COUNTS[p])]
    test_idx = list(range(100, 103))
    return Fake(root, resolution, images(train_idx, 96, 96), images(test_idx, 96, 96),
                None if "unlabeled" in split else np.asarray(train_idx) % 10, np.asarray(test_idx) % 10,
                patches={("study.gan.data.stl10", "COUNTS"): dict(STL_COUNTS)},
                options={"train_split": train_split})


# ---- image collections ----------------------------------------------------------------------
def png(array_chw: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(np.ascontiguousarray(array_chw.transpose(1, 2, 0))).save(buf, fmt, **kwargs)
    return buf.getvalue()


def test_positions(n: int, test_size: int) -> np.ndarray:
    """The documented split: the first test_size of numpy's default_rng(0) permutation, sorted."""
    return np.sort(np.random.default_rng(0).permutation(n)[:test_size])


def _collection(n: int, h: int, w: int, test_size: int, resolution: int, top: int, left: int):
    """Expected train/test for n images of h x w cut to the R x R window at (top, left)."""
    full = images(range(n), h, w)[:, :, top : top + resolution, left : left + resolution]
    t = test_positions(n, test_size)
    mask = np.zeros(n, bool)
    mask[t] = True
    return full[~mask], full[mask]


def folder(root: Path, n: int = 10) -> Fake:
    """24 x 40 (H x W) PNGs at 24 px: centre crop of the middle 24 columns, no resize."""
    collection = root / "my_images"
    (collection / "b").mkdir(parents=True)
    for i in range(n):  # relative paths sort in index order: a000.png ... then b/005.png ...
        path = collection / f"a{i:03d}.png" if i < n // 2 else collection / "b" / f"{i:03d}.png"
        path.write_bytes(png(images([i], 24, 40)[0]))
    (collection / "notes.txt").write_text("not an image: ignored")
    train, test = _collection(n, 24, 40, max(1, n // 10), 24, 0, 8)
    return Fake(collection, 24, train, test)


def celeba_hq(root: Path, n: int = 6, as_zip: bool = False) -> Fake:
    """Square 16 px PNGs (CelebA-HQ is square): at 16 px nothing is cropped or resized."""
    items = {f"celeba_hq/{i:05d}.png": png(images([i], 16, 16)[0]) for i in range(n)}
    if as_zip:
        root.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(root / "celeba_hq.zip", "w") as z:
            for name, raw in items.items():
                z.writestr(name, raw)
    else:
        for name, raw in items.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(raw)
    train, test = _collection(n, 16, 16, 2, 16, 0, 0)
    return Fake(root, 16, train, test, patches={("study.gan.data.images", "TEST_SIZES"):
                                                {"celeba_hq": 2, "lsun_bedroom": 2}})


def lsun_lmdb(root: Path, n: int = 7) -> Fake:
    """The LSUN LMDB: keys in index order, values lossless WebP of 24 x 40 images; the default
    crop (centre 16 x 16 window, no rescaling) starts at row 4, column 12."""
    import lmdb

    path = root / "bedroom_train_lmdb"
    path.mkdir(parents=True)
    with lmdb.open(str(path), map_size=1 << 24) as env, env.begin(write=True) as txn:
        for i in range(n):
            txn.put(f"{i:040x}".encode(), png(images([i], 24, 40)[0], "WEBP"))
    train, test = _collection(n, 24, 40, 2, 16, 4, 12)
    return Fake(root, 16, train, test, patches={("study.gan.data.images", "TEST_SIZES"):
                                                {"celeba_hq": 2, "lsun_bedroom": 2}})


# One fixture per registered real dataset: a dataset added without one fails test_every_dataset.
WRITERS = {"cifar10": cifar10_dir, "stl10": stl10, "folder": folder, "celeba_hq": celeba_hq,
           "lsun_bedroom": lsun_lmdb}
