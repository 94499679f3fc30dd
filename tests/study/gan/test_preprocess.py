"""Inception preprocessing against independent computations."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from study.gan.metrics.preprocess import (
    INPUT_SCALES,
    RESIZES,
    inception_input,
    pil_bicubic_matrix,
    resize,
    tf_bilinear_matrix,
)


def tf_legacy_bilinear_numpy(img, out):
    """TF1 resize_bilinear (align_corners=False, half_pixel_centers=False), written out in numpy."""
    n_in = img.shape[0]
    scale = n_in / out
    res = np.zeros((out, out))
    for y in range(out):
        sy = y * scale
        y0 = int(np.floor(sy))
        y1, fy = min(y0 + 1, n_in - 1), sy - y0
        for x in range(out):
            sx = x * scale
            x0 = int(np.floor(sx))
            x1, fx = min(x0 + 1, n_in - 1), sx - x0
            top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
            bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
            res[y, x] = top * (1 - fy) + bottom * fy
    return res


def test_tf_bilinear_matches_the_legacy_formula():
    img = np.random.default_rng(0).random((7, 7))
    got = resize(torch.tensor(img)[None, None], 23, "tf_bilinear")[0, 0].numpy()
    assert np.allclose(got, tf_legacy_bilinear_numpy(img, 23), atol=1e-12)
    # upsampling 2 -> 4: sources 0, 0.5, 1, 1.5 (clamped at the edge)
    assert torch.allclose(tf_bilinear_matrix(2, 4),
                          torch.tensor([[1, 0], [0.5, 0.5], [0, 1], [0, 1]], dtype=torch.float64))


def test_torch_bilinear_is_pytorch_interpolate():
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(resize(x, 299, "torch_bilinear"), F.interpolate(x, size=(299, 299), mode="bilinear",
                                                                        align_corners=False))


def test_quantise_round_tile_and_scale():
    x = torch.tensor([0.0, 0.3 / 255, 0.7 / 255, 1.0, 1.2]).view(1, 1, 1, 5).expand(1, 1, 299, 5)
    x = torch.nn.functional.pad(x, (0, 294))  # 299 wide: no resize
    y = inception_input(x)
    assert y.shape == (1, 3, 299, 299)
    # round (not truncate): 0.3 -> 0, 0.7 -> 1; clamped above 1; then the TF graph's (v - 128) / 128
    values = torch.tensor([0.0, 0.0, 1.0, 255.0, 255.0])
    assert torch.allclose(y[0, :, 0, :5], ((values - 128) / 128).expand(3, 5))
    assert torch.equal(y[0, 0], y[0, 2])
    # pytorch-fid's mode scales as pytorch-fid does: v / 127.5 - 1
    z = inception_input(x, "torch_bilinear")
    assert torch.allclose(z[0, :, 0, :5], (values / 127.5 - 1).expand(3, 5))
    with pytest.raises(ValueError, match="fid_resize: unknown mode"):
        resize(x, 10, "nearest")


def test_clean_bicubic_weights_worked_by_hand():
    """Pillow's bicubic (Keys, a = -0.5): cubic(0.25) = 111/128, cubic(0.75) = 29/128, cubic(1.25) = -9/128."""
    up = pil_bicubic_matrix(2, 4)
    # 2 -> 4: output 0 sits on source 0.25; of its taps -1, 0, 1 the one off the image is dropped and
    # the other two renormalised (no edge replication): (111, -9) / 102
    assert torch.allclose(up[0], torch.tensor([37 / 34, -3 / 34], dtype=torch.float64), rtol=0, atol=1e-15)
    assert torch.equal(up[3], up[0].flip(0))
    down = pil_bicubic_matrix(4, 2)
    # 4 -> 2: the filter stretched by 2 (antialiasing); output 0 sits on source 1.0, its taps 0..3
    # at (j - 1 + 0.5) / 2 = -0.25, 0.25, 0.75, 1.25: (111, 111, 29, -9) / 242
    assert torch.allclose(down[0], torch.tensor([111, 111, 29, -9], dtype=torch.float64) / 242, rtol=0, atol=1e-15)
    for n_in, n_out in ((2, 4), (4, 2), (16, 299), (32, 299), (512, 299)):
        assert torch.allclose(pil_bicubic_matrix(n_in, n_out).sum(1), torch.ones(n_out, dtype=torch.float64))
    assert torch.equal(pil_bicubic_matrix(299, 299), torch.eye(299, dtype=torch.float64))


def test_clean_clips_does_not_requantise_and_scales_as_the_tf_graph():
    assert "clean" in RESIZES and INPUT_SCALES["clean"] == (128.0, 128.0)  # InceptionV3W: (x - 128) / 128
    flat = inception_input(torch.full((1, 1, 16, 16), 77 / 255), "clean")
    assert torch.allclose(flat, torch.full_like(flat, (77 - 128) / 128), atol=1e-6)
    edge = torch.zeros(1, 3, 16, 16)
    edge[..., 8:] = 1.0  # bicubic overshoots a hard edge: clipped to [0, 255], kept fractional
    x = inception_input(edge, "clean") * 128 + 128
    assert float(x.min()) == 0.0 and float(x.max()) == 255.0
    assert not torch.equal(x, x.round())
    with pytest.raises(ValueError, match="allowed: tf_bilinear, torch_bilinear, clean"):
        resize(edge, 10, "bicubic")
