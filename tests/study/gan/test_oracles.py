"""FID, KID and IS against the reference implementations on the same images and weights.

Oracles (the ``oracle`` extra, installed by ``make test``): torch-fidelity 0.4.0 for
``fid_resize: tf_bilinear`` (the TF graph's input: TF1 bilinear resize, (x - 128) / 128) and
pytorch-fid 0.3.0 for ``torch_bilinear``. Both load the network the project caches (NVIDIA's
TorchScript port of the 2015-12-05 graph, converted to their parameter names); that file has no
classifier, so both sides get the same seeded 1,008-way layer for the Inception Score. Nothing
downloads: pytorch-fid's URL loader is replaced by the converted state dict. Goal (issue 11):
within 1e-4 relative.
"""
import numpy as np
import pytest
import torch

from study.gan.metrics import inception_weights as w

pytestmark = pytest.mark.slow
N = 40  # images per set (CPU time: 360 Inception passes in all); KID subsets of 20, IS in 10 splits of 4
REL = 1e-4


class Images(torch.utils.data.Dataset):
    """uint8 (3, H, W) images, as torch-fidelity reads a dataset."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def import_oracles():
    """torch-fidelity and pytorch-fid, or a skip. Both import torchvision, whose registry wheel may
    be a CUDA build beside the CPU torch: study.gan.metrics.torchvision_import imports it without
    the compiled operators' registrations (the oracles use only its pure-Python parts)."""
    from study.gan.metrics.torchvision_import import import_torchvision

    try:
        import_torchvision()
    except ImportError:
        pytest.skip("the oracle extra is not installed (pip install -e '.[oracle]')")
    return pytest.importorskip("torch_fidelity"), pytest.importorskip("pytorch_fid.inception")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    fidelity, _ = import_oracles()
    try:
        path = w.fetch()
    except w.WeightsError as e:
        pytest.skip(f"Inception weights unavailable: {e}")
    from study.gan.data import load_dataset
    from study.gan.metrics.inception_net import from_torchscript

    net = from_torchscript(torch.jit.load(str(path)).eval())
    net.fc.weight.data = torch.randn(1008, 2048, generator=torch.Generator().manual_seed(0)) * 0.05
    net.fc.bias.data = torch.randn(1008, generator=torch.Generator().manual_seed(1))  # IS must ignore it
    net.has_logits = True
    state = tmp_path_factory.mktemp("oracle") / "inception_state_dict.pth"
    torch.save(net.state_dict(), state)
    # Two different image sets at 32 px: digits, and the same digits shifted and brightened.
    digits = (load_dataset("digits", 32, 3).train[: 2 * N] * 255).round().to(torch.uint8)
    a = digits[:N]
    b = (digits[N:].float() * 0.7 + 60).round().clamp(0, 255).to(torch.uint8).roll(3, dims=-1)
    return fidelity, net, state, a, b


def ours(net, mode, a, b):
    from study.gan.metrics.extractors import InceptionPool3
    from study.gan.metrics.frechet import feature_statistics, frechet_distance
    from study.gan.metrics.scores import inception_score, kernel_inception_distance

    model = InceptionPool3(net, mode).eval()
    fa, fb = (torch.cat([model.features(x[i:i + 40].float() / 255) for i in range(0, N, 40)]).double().numpy()
              for x in (a, b))
    logits = torch.cat([model(a[i:i + 40].float() / 255) for i in range(0, N, 40)]).double().numpy()
    fid = frechet_distance(*feature_statistics(fa), *feature_statistics(fb))
    kid = kernel_inception_distance(fa, fb, subsets=50, subset_size=N // 2, seed=2020)
    return fid, kid, inception_score(logits, splits=10)


def test_tf_bilinear_fid_kid_is_equal_torch_fidelitys(setup):
    fidelity, net, state, a, b = setup
    ref = fidelity.calculate_metrics(
        input1=Images(a), input2=Images(b), fid=True, kid=True, isc=True, cuda=False, batch_size=40,
        feature_extractor="inception-v3-compat", feature_extractor_weights_path=str(state),
        kid_subsets=50, kid_subset_size=N // 2, isc_splits=10, samples_shuffle=False, rng_seed=2020,
        cache=False, verbose=False, save_cpu_ram=True)
    fid, (kid, kid_std), (isc, isc_std) = ours(net, "tf_bilinear", a, b)
    print(f"torch-fidelity: {ref}; ours: fid {fid}, kid {kid} +- {kid_std}, is {isc} +- {isc_std}")
    assert fid == pytest.approx(ref["frechet_inception_distance"], rel=REL)
    assert kid == pytest.approx(ref["kernel_inception_distance_mean"], rel=REL)
    assert kid_std == pytest.approx(ref["kernel_inception_distance_std"], rel=REL)
    assert isc == pytest.approx(ref["inception_score_mean"], rel=REL)
    assert isc_std == pytest.approx(ref["inception_score_std"], rel=1e-3)  # a spread of 10 values near 1


def test_torch_bilinear_fid_is_equal_pytorch_fids(setup, monkeypatch):
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import calculate_frechet_distance

    _, net, state, a, b = setup
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *args, **kwargs: torch.load(state))
    model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True,
                            use_fid_inception=True).eval()
    with torch.no_grad():
        acts = [torch.cat([model(x[i:i + 40].float() / 255)[0].flatten(1) for i in range(0, N, 40)]).double().numpy()
                for x in (a, b)]
    ref = calculate_frechet_distance(acts[0].mean(0), np.cov(acts[0], rowvar=False),
                                     acts[1].mean(0), np.cov(acts[1], rowvar=False))
    fid, _, _ = ours(net, "torch_bilinear", a, b)
    print(f"pytorch-fid: {ref}; ours: {fid}")
    assert fid == pytest.approx(ref, rel=REL)
