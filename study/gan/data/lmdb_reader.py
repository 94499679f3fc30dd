"""Reading an LMDB of encoded images (LSUN as distributed: ``bedroom_train_lmdb/`` with
``data.mdb`` and ``lock.mdb``; keys are image ids, values WebP or JPEG bytes) through the
optional ``lmdb`` package (``pip install 'gan-study[lmdb]'``), read-only, without locking."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator


def _lmdb():
    try:
        import lmdb
    except ImportError:
        return None
    return lmdb


def available() -> bool:
    return _lmdb() is not None


def open_env(path: Path):
    lmdb = _lmdb()
    if lmdb is None:
        raise ImportError("reading an LMDB needs the 'lmdb' package: pip install 'gan-study[lmdb]'")
    return lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=64)


def count(path: Path) -> int:
    with open_env(path) as env:
        return int(env.stat()["entries"])


def items(path: Path) -> Iterator[tuple[str, bytes]]:
    """(key, value) in key order, the order positions and the test split refer to."""
    with open_env(path) as env, env.begin(buffers=False) as txn:
        for key, value in txn.cursor():
            yield key.decode(errors="replace"), value
