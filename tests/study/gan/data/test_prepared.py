"""Preparing is done once when several processes ask at once, and is atomic."""
import multiprocessing as mp
from pathlib import Path

import numpy as np

from study.gan.data import DataOptions
from study.gan.data.prepared import ensure_prepared
from tests.study.gan.data import fakes


def _prepare_in_child(args):
    data_dir, log_path = args
    import study.gan.data.cifar10 as c

    c.ARCHIVE_MD5 = ""  # unused: the fake is a folder
    lines = []
    prepared = ensure_prepared(DataOptions("cifar10", 32, data_dir), log=lines.append)
    with open(log_path, "a") as f:
        f.writelines(f"{line}\n" for line in lines)
    return prepared.manifest_sha256, str(prepared.path)


def test_eight_processes_at_once_prepare_once_and_agree(tmp_path, apply):
    fake = apply(fakes.cifar10_dir(tmp_path / "data"))
    log = tmp_path / "log.txt"
    with mp.get_context("fork").Pool(8) as pool:
        results = pool.map(_prepare_in_child, [(str(fake.data_dir), str(log))] * 8)
    assert len(set(results)) == 1
    assert len(log.read_text().splitlines()) == 1 and log.read_text().startswith("preparing cifar10 at 32 px")
    path = Path(results[0][1])
    # the prepared folder holds only the finished set; no temporary is left beside it
    assert sorted(p.name for p in path.parent.iterdir()) == [".cifar10-32px-center_crop_resize.lock", path.name]
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "test.npy", "test_labels.npy", "train.npy",
                                                      "train_labels.npy"]
    np.testing.assert_array_equal(np.load(path / "train.npy"), fake.train)


def test_the_same_files_give_the_same_manifest_anywhere(tmp_path, apply):
    a = apply(fakes.cifar10_dir(tmp_path / "node-a"))
    b = apply(fakes.cifar10_dir(tmp_path / "node-b"))
    sha_a = ensure_prepared(DataOptions("cifar10", 32, str(a.data_dir))).manifest_sha256
    sha_b = ensure_prepared(DataOptions("cifar10", 32, str(b.data_dir))).manifest_sha256
    assert sha_a == sha_b
    # a different crop or resolution is a different prepared set with another checksum
    other = ensure_prepared(DataOptions("cifar10", 16, str(a.data_dir)))
    assert other.manifest_sha256 != sha_a and other.images("train").shape == (15, 3, 16, 16)
