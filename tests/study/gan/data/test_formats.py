"""Every distributed format read back through the registry: every pixel where it belongs,
labels and split sizes right (fakes.py writes the bytes as each format lays them out)."""
import json

import numpy as np
import pytest
from PIL import Image

from study.gan.data import SOURCES, DataOptions, load_dataset
from study.gan.data.prepared import ensure_prepared, open_prepared, prepared_path
from study.gan.data.transform import fit
from tests.study.gan.data import fakes


def prepare(fake, dataset, **extra):
    options = DataOptions(dataset, fake.resolution, str(fake.data_dir), **{**fake.options, **extra})
    return ensure_prepared(options)


def check(prepared, fake):
    np.testing.assert_array_equal(prepared.images("train"), fake.train)
    np.testing.assert_array_equal(prepared.images("test"), fake.test)
    for split, want in (("train", fake.train_labels), ("test", fake.test_labels)):
        got = prepared.labels(split)
        assert (got is None) == (want is None), split
        if want is not None:
            np.testing.assert_array_equal(got, want)
    counts = {s: i["count"] for s, i in prepared.manifest["splits"].items()}
    assert counts == {"train": len(fake.train), "test": len(fake.test)}


@pytest.mark.parametrize("dataset", SOURCES.names())
def test_every_dataset_has_a_fake_and_reads_back_exactly(dataset, tmp_path, apply):
    assert dataset in fakes.WRITERS, f"dataset {dataset!r} has no fake in tests/study/gan/data/fakes.py"
    fake = apply(fakes.WRITERS[dataset](tmp_path / "data"))
    check(prepare(fake, dataset), fake)


def test_cifar10_pixels_follow_the_channel_first_rows(tmp_path, apply):
    fake = apply(fakes.cifar10_dir(tmp_path))
    prepared = prepare(fake, "cifar10")
    x = prepared.images("train")
    # image 4 (batch 2, row 1): red plane, row 5, column 9 is byte 5 * 32 + 9 of its row
    assert x[4, 0, 5, 9] == fakes.value(4, 0, 5, 9) and x[4, 2, 31, 0] == fakes.value(4, 2, 31, 0)
    assert x.dtype == np.uint8 and x.shape == (15, 3, 32, 32)
    assert prepared.labels("test").tolist() == [5, 6, 7, 8]  # image i has label i % 10


def test_cifar10_archive_is_read_without_extracting_and_md5_checked(tmp_path, apply):
    fake = apply(fakes.cifar10_archive(tmp_path))
    prepared = prepare(fake, "cifar10")
    check(prepared, fake)
    assert prepared.manifest["source"]["kind"] == "tar.gz"
    assert [f["path"] for f in prepared.manifest["source"]["files"]] == ["cifar-10-python.tar.gz"]
    assert not (tmp_path / "cifar-10-batches-py").exists()


@pytest.mark.parametrize("train_split,n_train", [("unlabeled", 4), ("train", 2), ("train+unlabeled", 6)])
def test_stl10_column_major_planes_and_the_train_split_setting(train_split, n_train, tmp_path, apply):
    fake = apply(fakes.stl10(tmp_path, train_split=train_split))
    prepared = prepare(fake, "stl10")
    check(prepared, fake)
    x = prepared.images("test")
    assert x[1, 1, 2, 70] == fakes.value(101, 1, 2, 70)  # row 2, column 70: not the transposed pixel
    assert x[1, 1, 2, 70] != fakes.value(101, 1, 70, 2)
    assert len(prepared.images("train")) == n_train and prepared.manifest["train_split"] == train_split
    assert prepared.path.name == f"stl10-96px-center_crop_resize-{train_split.replace('+', '_')}"


def test_stl10_at_48px_is_the_bicubic_resize_of_each_image(tmp_path, apply):
    fake = apply(fakes.stl10(tmp_path, resolution=48))
    prepared = prepare(fake, "stl10")
    for k, i in enumerate(range(200, 204)):  # the unlabeled images
        src = Image.fromarray(fakes.images([i], 96, 96)[0].transpose(1, 2, 0))
        want = np.asarray(src.resize((48, 48), Image.Resampling.BICUBIC)).transpose(2, 0, 1)
        np.testing.assert_array_equal(prepared.images("train")[k], want)


def test_crop_policies_on_a_non_square_image():
    arr = fakes.images([3], 24, 40)[0]  # H 24, W 40
    img = Image.fromarray(arr.transpose(1, 2, 0))
    # centre crop to the 24 x 24 square at columns 8..31, then resize to 12 (bicubic)
    square = Image.fromarray(arr[:, :, 8:32].transpose(1, 2, 0))
    want = np.asarray(square.resize((12, 12), Image.Resampling.BICUBIC)).transpose(2, 0, 1)
    np.testing.assert_array_equal(fit(img, 12, "center_crop_resize"), want)
    np.testing.assert_array_equal(fit(img, 24, "center_crop_resize"), arr[:, :, 8:32])
    # the centred 16 x 16 window, no rescaling: rows 4..19, columns 12..27
    np.testing.assert_array_equal(fit(img, 16, "center_crop"), arr[:, 4:20, 12:28])
    # the whole image squeezed to 20 x 20
    want = np.asarray(img.resize((20, 20), Image.Resampling.BICUBIC)).transpose(2, 0, 1)
    np.testing.assert_array_equal(fit(img, 20, "resize"), want)
    # a flat colour stays that colour through any policy; grayscale becomes three equal channels
    flat = Image.new("L", (40, 24), 77)
    for crop in ("center_crop_resize", "center_crop", "resize"):
        assert (fit(flat, 12, crop) == 77).all()


def test_image_collection_split_is_the_recorded_seeded_permutation(tmp_path, apply):
    fake = apply(fakes.celeba_hq(tmp_path, n=6))
    prepared = prepare(fake, "celeba_hq")
    want = fakes.test_positions(6, 2)
    np.testing.assert_array_equal(np.load(prepared.path / "test_index.npy"), want)
    split = prepared.manifest["split"]
    assert split["test_size"] == 2 and split["seed"] == 0 and split["order"] == "sorted relative paths"
    # each test image is the source image at its recorded position (the index is in its pixels)
    for k, i in enumerate(want):
        assert prepared.images("test")[k, 0, 0, 0] == fakes.value(i, 0, 0, 0)


def test_a_zip_reads_like_the_folder(tmp_path, apply):
    a = apply(fakes.celeba_hq(tmp_path / "dir", n=6))
    b = apply(fakes.celeba_hq(tmp_path / "zip", n=6, as_zip=True))
    pa, pb = prepare(a, "celeba_hq"), prepare(b, "celeba_hq")
    check(pb, b)
    np.testing.assert_array_equal(pa.images("train"), pb.images("train"))
    assert pb.manifest["source"]["kind"] == "zip" and pb.manifest["split"]["order"] == "sorted member names"


def test_folder_decodes_jpeg_and_webp_and_ignores_other_files(tmp_path, apply):
    collection = tmp_path / "mixed"
    collection.mkdir()
    arr = fakes.images([0], 20, 20)[0]
    (collection / "a.jpg").write_bytes(fakes.png(np.full_like(arr, 200), "JPEG"))
    (collection / "b.webp").write_bytes(fakes.png(arr, "WEBP"))
    (collection / "c.PNG").write_bytes(fakes.png(arr))
    (collection / "readme.md").write_text("#")
    prepared = ensure_prepared(DataOptions("folder", 20, str(collection)))
    both = np.concatenate([prepared.images("train"), prepared.images("test")])
    assert len(both) == 3 and prepared.manifest["source"]["files_count"] == 3
    assert sum(np.array_equal(x, arr) for x in both) == 2  # WebP (lossless) and PNG exact
    assert any(np.abs(x.astype(int) - 200).max() <= 2 for x in both)  # the JPEG, within its loss


def test_manifest_records_sources_policy_and_statistics(tmp_path, apply):
    fake = apply(fakes.cifar10_dir(tmp_path))
    prepared = prepare(fake, "cifar10")
    m = json.loads((prepared.path / "manifest.json").read_text())
    import hashlib

    assert prepared.manifest_sha256 == hashlib.sha256((prepared.path / "manifest.json").read_bytes()).hexdigest()
    files = {f["path"]: f["sha256"] for f in m["source"]["files"]}
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    assert files["data_batch_2"] == hashlib.sha256(batch.read_bytes()).hexdigest()
    assert m["crop"] == "center_crop_resize" and m["resolution"] == 32 and m["fid_real_samples"] == 10_000
    train = fake.train.astype(np.float64) / 255
    np.testing.assert_allclose(m["channel_mean"], train.mean(axis=(0, 2, 3)), atol=1e-7)
    np.testing.assert_allclose(m["channel_std"], train.transpose(1, 0, 2, 3).reshape(3, -1).std(axis=1, ddof=1),
                               atol=1e-6)
    assert str(tmp_path) not in json.dumps(m)  # no absolute path: nodes preparing alike agree
    assert m["splits"]["train"]["sha256"] == hashlib.sha256((prepared.path / "train.npy").read_bytes()).hexdigest()


def test_prepared_set_is_used_without_the_source(tmp_path, apply):
    fake = apply(fakes.cifar10_dir(tmp_path / "data"))
    first = prepare(fake, "cifar10", prepared_dir=str(tmp_path / "node-local"))
    import shutil

    shutil.rmtree(tmp_path / "data" / "cifar-10-batches-py")  # a node with only the prepared copy
    again = prepare(fake, "cifar10", prepared_dir=str(tmp_path / "node-local"))
    assert (again.manifest_sha256 == first.manifest_sha256
            and again.path == tmp_path / "node-local" / "cifar10-32px-center_crop_resize")


def test_load_dataset_memory_maps_uint8_and_carries_the_protocol(tmp_path, apply):
    fake = apply(fakes.cifar10_dir(tmp_path))
    data = load_dataset("cifar10", 32, 3, DataOptions("cifar10", 32, str(tmp_path)))
    assert data.train.dtype.is_floating_point is False and tuple(data.train.shape) == (15, 3, 32, 32)
    np.testing.assert_array_equal(data.test.numpy(), fake.test)
    assert data.fid_real_samples == 10_000 and len(data.manifest_sha256) == 64
    path = prepared_path(DataOptions("cifar10", 32, str(tmp_path)))
    assert open_prepared(path).manifest_sha256 == data.manifest_sha256
