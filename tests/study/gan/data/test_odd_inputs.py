"""Issue 22: a 16-bit greyscale PNG is scaled to 8 bits (never clipped to white), and data_dir may
name cifar-10-python.tar.gz itself, as a user gives the path of the file they downloaded."""
import io

import numpy as np
import pytest
from PIL import Image

from study.gan.data import DataOptions
from study.gan.data.prepared import ensure_prepared, prepared_path
from study.gan.data.transform import eight_bit, fit
from tests.study.gan.data import fakes


def _png16(values: np.ndarray) -> Image.Image:
    out = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(out, format="PNG")
    image = Image.open(io.BytesIO(out.getvalue()))
    assert image.mode == "I;16"  # what Pillow opens a 16-bit greyscale PNG as
    return image


@pytest.mark.parametrize(("wide", "narrow"), [(128 * 257, 128), (0, 0), (65535, 255), (257, 1), (128, 0),
                                              (129, 1), (40000, 156)])
def test_a_16_bit_greyscale_png_is_scaled_to_8_bits(wide, narrow):
    # narrow = round(wide / 257), worked out by hand: 40000 / 257 = 155.64 -> 156; 128 / 257 = 0.498 -> 0
    got = fit(_png16(np.full((8, 8), wide)), 8, "resize")
    assert got.shape == (3, 8, 8) and (got == narrow).all()


def test_a_16_bit_gradient_keeps_its_order_and_ends():
    ramp = np.linspace(0, 65535, 64).reshape(8, 8)
    got = np.asarray(eight_bit(_png16(ramp)))
    assert got[0, 0] == 0 and got[-1, -1] == 255 and (np.diff(got.ravel().astype(int)) >= 0).all()


def test_an_image_folder_with_a_16_bit_png_prepares_it_grey_not_white(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(folder / f"rgb{i}.png")
    _png16(np.full((8, 8), 128 * 257)).save(folder / "wide.png")
    prepared = ensure_prepared(DataOptions("folder", 8, str(folder)))
    every = np.concatenate([prepared.images("train"), prepared.images("test")])
    assert sorted({int(im.max()) for im in every}) == [0, 10, 20, 30, 128]  # 128, not 255


def test_data_dir_may_name_the_cifar_archive_itself(tmp_path, apply):
    fake = apply(fakes.cifar10_archive(tmp_path / "downloads"))
    archive = tmp_path / "downloads" / "cifar-10-python.tar.gz"
    options = DataOptions("cifar10", 32, str(archive))
    assert prepared_path(options).parent == tmp_path / "downloads" / "prepared"  # beside the archive
    prepared = ensure_prepared(options)
    np.testing.assert_array_equal(prepared.images("train"), fake.train)
    np.testing.assert_array_equal(prepared.images("test"), fake.test)
