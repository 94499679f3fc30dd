"""Image collections: a folder or a zip of PNG / JPEG / WebP files (decoded by Pillow), and LSUN's
LMDB. Entries: ``folder`` (any collection), ``celeba_hq`` and ``lsun_bedroom``.

Order and split: images are taken in sorted order of their relative paths (zip: member names;
LMDB: key order); the test split is the first ``test_size`` positions of a seeded permutation
(``sources.split_permutation``, seed 0), recorded in the manifest and as ``test_index.npy``.
Every image goes through the named crop policy (study/gan/data/transform.py) to R x R RGB.

- ``folder``: ``data_dir`` itself is the collection (a directory, searched recursively, or a
  ``.zip``); test split: a tenth of the images (at least one); default crop
  ``center_crop_resize``.
- ``celeba_hq``: ``<data_dir>/celeba_hq/`` or ``<data_dir>/celeba_hq.zip`` holding the 30,000
  images of the CelebA-HQ release (Karras et al. 2018, 1024 x 1024, e.g. as written by the
  progressive-GAN dataset tool or an image export of it); CelebA-HQ-128 is the release resized
  with ``center_crop_resize`` (square: a plain antialiased bicubic resize). Test split: 3,000
  (Kurach et al. 2019); FID on all of them.
- ``lsun_bedroom``: ``<data_dir>/bedroom_train_lmdb/`` (the LSUN release, Yu et al. 2015;
  needs the ``lmdb`` extra) or an image export in ``<data_dir>/lsun_bedroom/`` or
  ``lsun_bedroom.zip``. Default crop ``center_crop``: the centred R x R window without
  rescaling, as compare_gan cuts 128 px from the 256 px short side (``center_crop_resize`` is
  the alternative that keeps the whole square). Test split 30,588 of the 3,033,042 images; FID
  on 30,000 (Kurach et al. 2019).
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

import study.gan.data.lmdb_reader as lmdb_reader
from study.gan.data.errors import DataError
from study.gan.data.sources import SOURCES, DataOptions, Located, Plan, Source, split_permutation
from study.gan.data.transform import TooSmall, fit

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
TEST_SIZES = {"celeba_hq": 3_000, "lsun_bedroom": 30_588}  # Kurach et al. 2019; folder: a tenth
FOLDER_TEST_FRACTION = 10
CHUNK = 256  # images decoded per task of the thread pool (Pillow releases the GIL while decoding)


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.lower().endswith(SUFFIXES) and not base.startswith(".") and not name.startswith("__MACOSX/")


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder``, sorted by relative path (POSIX form)."""
    found = [p for p in folder.rglob("*") if p.is_file() and _is_image(p.relative_to(folder).as_posix())]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def zip_members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return sorted(n for n in z.namelist() if not n.endswith("/") and _is_image(n))


def locate_collection(name: str, where: Path, expected: str) -> Located:
    """A directory of images, a zip of them, or an LMDB directory; an empty one is an error."""
    if where.is_dir() and (where / "data.mdb").is_file():
        if not lmdb_reader.available():
            raise DataError(name, where, "an LMDB, but the 'lmdb' package is not installed",
                            "pip install 'gan-study[lmdb]' to read it")
        if lmdb_reader.count(where) == 0:
            raise DataError(name, where, "an empty LMDB", expected)
        return Located(where, (where / "data.mdb",), "lmdb")
    if where.is_dir():
        files = image_files(where)
        if not files:
            raise DataError(name, where, "no image files (.png, .jpg, .jpeg, .webp) in the folder", expected)
        return Located(where, tuple(files), "dir")
    if where.is_file() and where.suffix.lower() == ".zip":
        try:
            members = zip_members(where)
        except (zipfile.BadZipFile, OSError) as e:
            raise DataError(name, where, f"not a readable zip ({e})", expected) from None
        if not members:
            raise DataError(name, where, "no image files (.png, .jpg, .jpeg, .webp) in the zip", expected)
        return Located(where, (where,), "zip")
    raise DataError(name, where, "no such directory or zip" if not where.exists() else "not a directory or a .zip",
                    expected)


def _entries(located: Located) -> tuple[int, Callable[[], Iterator[tuple[str, bytes]]]]:
    """How many images, and an iterator of (name, encoded bytes) in the collection's order."""
    if located.kind == "dir":
        files = located.files
        return len(files), lambda: ((p.relative_to(located.root).as_posix(), p.read_bytes()) for p in files)
    if located.kind == "zip":
        members = zip_members(located.root)

        def read_zip() -> Iterator[tuple[str, bytes]]:
            with zipfile.ZipFile(located.root) as z:
                for m in members:
                    yield m, z.read(m)

        return len(members), read_zip
    return lmdb_reader.count(located.root), lambda: lmdb_reader.items(located.root)


def decode(name: str, where: str, raw: bytes, resolution: int, crop: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            return fit(image, resolution, crop)
    except TooSmall as e:
        raise DataError(name, where, str(e), f"images at least {resolution} px on each side for crop 'center_crop'")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(name, where, f"does not decode as an image ({type(e).__name__}: {e})",
                        "a PNG, JPEG or WebP image") from None


def _chunks(it: Iterator[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    chunk: list[tuple[str, bytes]] = []
    for item in it:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def collection_plan(name: str, located: Located, resolution: int, crop: str, test_size: int) -> Plan:
    n, entries = _entries(located)
    if n <= test_size:
        raise DataError(name, located.root, f"{n} images", f"more than the {test_size} the test split takes")
    test_index = split_permutation(n, test_size)
    is_test = np.zeros(n, dtype=bool)
    is_test[test_index] = True
    # position in its split of every source position
    slot = np.where(is_test, np.cumsum(is_test) - 1, np.cumsum(~is_test) - 1)
    prefix = f"{located.root}:" if located.kind in ("zip", "lmdb") else f"{located.root}/"

    def fill(out: dict[str, np.ndarray]) -> None:
        def work(start_chunk: tuple[int, list[tuple[str, bytes]]]) -> tuple[int, list[np.ndarray]]:
            start, chunk = start_chunk
            return start, [decode(name, prefix + key, raw, resolution, crop) for key, raw in chunk]

        def numbered() -> Iterator[tuple[int, list[tuple[str, bytes]]]]:
            at = 0
            for chunk in _chunks(entries(), CHUNK):
                yield at, chunk
                at += len(chunk)

        def store(done: tuple[int, list[np.ndarray]]) -> None:
            start, images = done
            for i, img in enumerate(images, start):
                out["test" if is_test[i] else "train"][slot[i]] = img

        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            window: deque = deque()  # at most 2 chunks per worker read ahead: memory stays bounded
            for item in numbered():
                window.append(pool.submit(work, item))
                if len(window) >= 2 * workers:
                    store(window.popleft().result())
            while window:
                store(window.popleft().result())

    order = {"dir": "sorted relative paths", "zip": "sorted member names", "lmdb": "LMDB key order"}[located.kind]
    info = {"order": order, "seed": 0, "permutation": "numpy.random.default_rng(seed).permutation(n)[:test_size]",
            "test_size": test_size, "test_index_sha256": hashlib.sha256(test_index.astype("<i8").tobytes()).hexdigest()}
    return Plan({"train": n - test_size, "test": test_size}, fill, {}, info, test_index)


# ---- the entries ----------------------------------------------------------------------------
def _named(name: str, subdirs: tuple[str, ...], expected: str) -> Callable[[Path], Located]:
    def locate(data_dir: Path) -> Located:
        for sub in subdirs:
            if (data_dir / sub).exists():
                return locate_collection(name, data_dir / sub, expected)
        what = "no such directory" if not data_dir.exists() else f"none of {', '.join(subdirs)} is there"
        raise DataError(name, data_dir, what, expected)

    return locate


def _plan(name: str) -> Callable[[Located, DataOptions, str, str], Plan]:
    def plan(located: Located, options: DataOptions, crop: str, train_split: str) -> Plan:
        n = _entries(located)[0]
        size = TEST_SIZES[name] if name in TEST_SIZES else max(1, n // FOLDER_TEST_FRACTION)
        return collection_plan(name, located, options.resolution, crop, size)

    return plan


def _locate_folder(data_dir: Path) -> Located:
    return locate_collection("folder", data_dir, "a directory or .zip of PNG, JPEG or WebP images")


SOURCES.register("folder")(Source("folder", _locate_folder, _plan("folder"), default_crop="center_crop_resize",
                                  description="data_dir itself: a directory (recursive) or .zip of images"))
SOURCES.register("celeba_hq")(Source(
    "celeba_hq", _named("celeba_hq", ("celeba_hq", "celeba_hq.zip"),
                        "celeba_hq/ or celeba_hq.zip with the 30,000 CelebA-HQ images (PNG/JPEG/WebP)"),
    _plan("celeba_hq"), default_crop="center_crop_resize", fid_real_samples=3_000,
    description="CelebA-HQ release images in celeba_hq/ or celeba_hq.zip"))
SOURCES.register("lsun_bedroom")(Source(
    "lsun_bedroom", _named("lsun_bedroom", ("bedroom_train_lmdb", "lsun_bedroom", "lsun_bedroom.zip"),
                           "bedroom_train_lmdb/ (the LSUN LMDB) or lsun_bedroom/ / lsun_bedroom.zip of images"),
    _plan("lsun_bedroom"), default_crop="center_crop", fid_real_samples=30_000,
    description="LSUN bedroom LMDB (bedroom_train_lmdb/) or an image export"))
