import numpy as np
import pytest
import torch

from study.gan.data import DATASETS, load_dataset
from study.gan.data.digits import TEST_SIZE, _raw
from study.gan.data.registry import to_range


def test_digits_split_is_fixed_disjoint_and_complete():
    a, b = load_dataset("digits", 8, 1), load_dataset("digits", 8, 1)
    assert len(a.train) == 1797 - TEST_SIZE and len(a.test) == TEST_SIZE
    assert torch.equal(a.test, b.test)
    raw, labels = _raw()
    # at 8 px the rendering is the raw data / 16: every image is found exactly once
    flat_raw = {raw[i].tobytes(): labels[i] for i in range(len(raw))}
    seen = [x.numpy()[0].tobytes() for x in torch.cat([a.train, a.test])]
    assert set(seen) <= set(flat_raw)
    assert np.bincount(a.test_labels.numpy(), minlength=10).min() >= 20  # every class in test


@pytest.mark.parametrize("res,channels", [(16, 1), (32, 3)])
def test_digits_render_resolution_channels_and_range(res, channels):
    d = load_dataset("digits", res, channels)
    assert d.train.shape[1:] == (channels, res, res) and d.train.dtype == torch.float32
    assert d.train.min() == 0.0 and d.train.max() == 1.0
    if channels == 3:
        assert torch.equal(d.train[:, 0], d.train[:, 2])
    # bilinear upsampling preserves the mean intensity closely
    assert d.train.mean().item() == pytest.approx(load_dataset("digits", 8, 1).train.mean().item(), rel=0.05)


def test_digits_read_without_sklearn_match_sklearns_loader(monkeypatch):
    from sklearn.datasets import load_digits

    from study.gan.data import digits

    bunch = load_digits()
    expected = bunch.images.astype(np.float32) / 16.0
    assert digits._digits_file() is not None  # the fast path is the one taken here
    digits._raw.cache_clear()
    images, labels = digits._raw()
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(labels, bunch.target)
    # a scikit-learn without the CSV where we look: its own loader gives the same arrays
    monkeypatch.setattr(digits, "DIGITS_FILE", ("no", "such.csv.gz"))
    digits._raw.cache_clear()
    try:
        fallback, fallback_labels = digits._raw()
    finally:
        digits._raw.cache_clear()
    np.testing.assert_array_equal(fallback, expected)
    np.testing.assert_array_equal(fallback_labels, bunch.target)


def test_to_range_maps_unit_interval():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert torch.equal(to_range(x, -1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0]))


def test_unknown_dataset_and_bad_channels():
    with pytest.raises(ValueError, match="dataset: unknown dataset 'cifar'"):
        load_dataset("cifar", 32, 3)
    with pytest.raises(ValueError, match="channels"):
        DATASETS.get("digits").load(16, 2)


def test_the_dataset_entry_says_which_training_splits_carry_labels():
    """A conditional trial needs labels: the default split of digits and CIFAR-10, STL-10's train
    split (its default, unlabeled, has none), no image collection."""
    from study.gan.config import ConfigError, TrialConfig

    real = {"channels": 3, "resolution": 32, "conditional": True}
    for values in ({"conditional": True}, {**real, "dataset": "cifar10"},
                   {**real, "dataset": "stl10", "train_split": "train"}):
        assert TrialConfig.from_dict(values).conditional
    for values in ({**real, "dataset": "stl10"}, {**real, "dataset": "celeba_hq"}):
        with pytest.raises(ConfigError, match="true only with labels for the training split"):
            TrialConfig.from_dict(values)
    assert DATASETS.get("stl10").labelled_splits == ("train",) and DATASETS.get("folder").labelled_splits == ()
