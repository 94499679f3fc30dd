"""Each bad input is one DataError naming the dataset, the path and what was expected, raised
before anything is written (the data directory's tree is unchanged afterwards)."""
import os

import pytest

from study.gan.data import DataOptions
from study.gan.data.errors import DataError
from study.gan.data.prepared import ensure_prepared
from tests.study.gan.data import fakes


def tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


def refused(root, options, *needles):
    before = tree(root)
    with pytest.raises(DataError) as err:
        ensure_prepared(options)
    message = str(err.value)
    assert message.startswith(f"dataset {options.dataset!r}: ") and "expected" in message
    for needle in needles:
        assert str(needle) in message, (needle, message)
    assert tree(root) == before  # nothing written: no prepared folder, no lock, no temporary
    return message


@pytest.mark.parametrize("dataset", ["cifar10", "stl10", "celeba_hq", "lsun_bedroom", "folder"])
def test_missing_directory(dataset, tmp_path):
    missing = tmp_path / "nowhere"
    refused(tmp_path, DataOptions(dataset, 32, str(missing)), missing, "no such")


def test_no_data_dir_at_all(tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_STUDY_DATA", raising=False)
    refused(tmp_path, DataOptions("cifar10", 32), "GAN_STUDY_DATA")


def test_data_dir_from_the_environment(tmp_path, monkeypatch, apply):
    fake = apply(fakes.cifar10_dir(tmp_path))
    monkeypatch.setenv("GAN_STUDY_DATA", str(tmp_path))
    assert ensure_prepared(DataOptions("cifar10", 32)).path == tmp_path / "prepared" / "cifar10-32px-center_crop_resize"
    assert fake.train.shape[0] == 15


def test_cifar10_missing_batch(tmp_path, apply):
    apply(fakes.cifar10_dir(tmp_path))
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    refused(tmp_path, DataOptions("cifar10", 32, str(tmp_path)), "data_batch_3", "missing")


def test_cifar10_truncated_batch(tmp_path, apply):
    apply(fakes.cifar10_dir(tmp_path))
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:5000])
    refused(tmp_path, DataOptions("cifar10", 32, str(tmp_path)), batch, "unreadable batch")


def test_cifar10_archive_with_the_wrong_md5(tmp_path):
    fakes.cifar10_archive(tmp_path)  # not patched: the published md5 is expected
    archive = tmp_path / "cifar-10-python.tar.gz"
    refused(tmp_path, DataOptions("cifar10", 32, str(tmp_path)), archive, "c58f30108f718f92721af3b95e74349a")


def test_cifar10_pickle_that_would_run_code_is_refused(tmp_path, apply):
    apply(fakes.cifar10_dir(tmp_path))
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(b"cos\nsystem\n(S'echo hi'\ntR.")  # a pickle calling os.system
    refused(tmp_path, DataOptions("cifar10", 32, str(tmp_path)), batch, "refusing os.system")


def test_stl10_truncated_file(tmp_path, apply):
    apply(fakes.stl10(tmp_path))
    bin_file = tmp_path / "stl10_binary" / "unlabeled_X.bin"
    os.truncate(bin_file, bin_file.stat().st_size - 100)
    refused(tmp_path, DataOptions("stl10", 96, str(tmp_path)), bin_file, "truncated", f"{4 * 27648:,} bytes")


def test_image_that_does_not_decode(tmp_path, apply):
    fake = apply(fakes.folder(tmp_path))
    bad = fake.data_dir / "b" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    refused(tmp_path, DataOptions("folder", 24, str(fake.data_dir)), bad, "does not decode")


def test_truncated_image(tmp_path, apply):
    fake = apply(fakes.folder(tmp_path))
    victim = fake.data_dir / "a001.png"
    victim.write_bytes(victim.read_bytes()[:60])
    refused(tmp_path, DataOptions("folder", 24, str(fake.data_dir)), victim, "does not decode")


def test_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    refused(tmp_path, DataOptions("folder", 24, str(empty)), empty, "no image files")


def test_image_smaller_than_the_centre_crop(tmp_path, apply):
    fake = apply(fakes.lsun_lmdb(tmp_path))
    refused(tmp_path, DataOptions("lsun_bedroom", 32, str(tmp_path)), "bedroom_train_lmdb", "smaller than the 32x32")
    assert fake.resolution == 16


def test_fewer_images_than_the_test_split(tmp_path):
    fakes.celeba_hq(tmp_path, n=6)  # unpatched: CelebA-HQ's test split is 3,000
    refused(tmp_path, DataOptions("celeba_hq", 16, str(tmp_path)), "6 images", "3000")


def test_unknown_train_split_and_crop(tmp_path, apply):
    apply(fakes.stl10(tmp_path))
    refused(tmp_path, DataOptions("stl10", 96, str(tmp_path), train_split="extra"), "unlabeled, train")
    refused(tmp_path, DataOptions("stl10", 96, str(tmp_path), crop="squash"), "center_crop_resize")
