"""The shipped feature extractor: accuracy, and the Frechet distance it induces."""
import numpy as np
import pytest
import torch

from study.gan.data import load_dataset
from study.gan.metrics.digits_classifier import WEIGHTS, load_digits_classifier
from study.gan.metrics.extractors import EXTRACTORS, extract
from study.gan.metrics.frechet import feature_statistics, frechet_distance


@pytest.mark.parametrize("res,channels", [(8, 1), (16, 1), (32, 3)])
def test_classifies_held_out_digits_at_95_percent(res, channels):
    data = load_dataset("digits", res, channels)
    model = load_digits_classifier()
    with torch.no_grad():
        acc = (model(data.test).argmax(1) == data.test_labels).float().mean().item()
    assert acc >= 0.95


def test_weights_file_is_shipped_and_small():
    assert WEIGHTS.exists() and WEIGHTS.stat().st_size < 1_000_000


def test_frechet_distance_separates_real_from_noise():
    data = load_dataset("digits", 16, 1)
    ex = EXTRACTORS.get("digits")
    model = ex.load(torch.device("cpu"), "")
    stats = lambda x: feature_statistics(extract(ex, model, x).numpy())  # noqa: E731
    real_real = frechet_distance(*stats(data.train), *stats(data.test))
    noise = frechet_distance(*stats(torch.rand(360, 1, 16, 16, generator=torch.Generator().manual_seed(0))),
                             *stats(data.test))
    assert np.isfinite(real_real) and noise > 20 * real_real
