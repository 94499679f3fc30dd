"""Inception preprocessing against independent computations."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from study.gan.metrics.preprocess import inception_input, resize, tf_bilinear_matrix


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
