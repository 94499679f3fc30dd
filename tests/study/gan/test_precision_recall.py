"""Improved precision and recall (Kynkaenniemi et al. 2019): a case worked by hand, the
reference prdc package on the same features, and the evaluator's columns."""
import math

import numpy as np
import pytest
import torch

from study.gan.metrics.precision_recall import coverage_fraction, knn_radii, precision_recall


def _line(*xs):
    return np.array([[x, 0.0] for x in xs])


def test_hand_worked_case_with_k1():
    real = _line(0, 1, 5)  # k = 1 radii: 1, 1, 4
    fake = _line(0.5, 3, 9.5, 20)  # k = 1 radii: 2.5, 2.5, 6.5, 10.5
    assert knn_radii(real, k=1).tolist() == [1.0, 1.0, 16.0]  # squared
    pr = precision_recall(real, fake, k=1)
    # 0.5 lies in the ball of 0 (0.5 <= 1), 3 in that of 5 (2 <= 4); 9.5 (4.5 > 4) and 20 in none.
    assert pr.precision == 0.5
    # every real point lies within 2.5 of 0.5 or 3
    assert pr.recall == 1.0


def test_a_point_on_a_ball_boundary_counts_as_inside():
    real = _line(0, 1, 5)
    assert coverage_fraction(_line(9.0, 9.01), real, knn_radii(real, k=1)) == 0.5  # |9 - 5| = 4 = radius


def test_k3_excludes_the_point_itself_and_counts_duplicates():
    x = _line(0, 0, 1, 3, 7)
    # third nearest of the others: from 0 (0, 1, 3, 7) 3; from 1 (1, 1, 2, 6) 2; from 3 (3, 3, 2, 4) 3;
    # from 7 (7, 7, 6, 4) 7
    assert knn_radii(x, k=3).tolist() == [9.0, 9.0, 4.0, 9.0, 49.0]


def test_chunking_and_device_do_not_change_the_result():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 16)), rng.normal(0.3, 1.2, size=(257, 16))
    whole = precision_recall(real, fake, chunk=10_000)
    assert precision_recall(real, fake, chunk=7) == whole
    assert 0 < whole.precision < 1 and 0 < whole.recall < 1
    if torch.cuda.is_available():
        assert precision_recall(real, fake, device="cuda") == whole


@pytest.mark.parametrize("n_real,n_fake,dim,shift", [(500, 400, 64, 0.4), (360, 360, 2048, 0.05), (200, 600, 8, 1.5)])
def test_equals_the_prdc_package(n_real, n_fake, dim, shift):
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(dim)
    real = rng.normal(size=(n_real, dim)).astype(np.float32)
    fake = (rng.normal(size=(n_fake, dim)) * (1 + shift) + shift).astype(np.float32)
    ref = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=3)
    ours = precision_recall(real, fake, k=3, chunk=128)
    assert abs(ours.precision - ref["precision"]) <= 1e-6
    assert abs(ours.recall - ref["recall"]) <= 1e-6
    assert 0 < ours.precision < 1 or 0 < ours.recall < 1  # a case where the balls matter


def test_equals_prdc_on_the_digits_features_the_evaluator_uses():
    prdc = pytest.importorskip("prdc")
    from study.gan.data import load_dataset
    from study.gan.metrics.extractors import EXTRACTORS, extract

    data = load_dataset("digits", 16, 1)
    ext = EXTRACTORS.get("digits")
    model = ext.load(torch.device("cpu"), "tf_bilinear")
    real = extract(ext, model, data.split("test")).numpy()
    noisy = (data.split("train")[:400] + 0.15 * torch.randn(400, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    fake = extract(ext, model, noisy.clamp(0, 1)).numpy()
    ref = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=3)
    ours = precision_recall(real, fake)
    assert abs(ours.precision - ref["precision"]) <= 1e-6 and abs(ours.recall - ref["recall"]) <= 1e-6


def test_a_trial_with_metrics_pr_reports_precision_and_recall():
    from study.gan.config import TrialConfig
    from study.gan.trial import run_trial

    rows = []
    run_trial(TrialConfig.from_dict(dict(width=0.125, z_dim=16, batch_size=32, steps=20, eval_every=20, resolution=8,
                                         eval_samples=200, metrics="pr")), rows.append)
    assert all(0.0 <= r["pr_precision"] <= 1.0 and 0.0 <= r["pr_recall"] <= 1.0 for r in rows)
    assert not math.isnan(rows[-1]["pr_recall"])


def test_the_evaluator_reports_prdcs_values_on_its_own_features():
    """``pr`` (k = 3) and ``dc`` (density and coverage, k = 5, tests/study/gan/test_density_coverage.py)
    in one evaluation: the two k's radii of one real set are kept apart."""
    prdc = pytest.importorskip("prdc")
    from study.gan.data import load_dataset
    from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions
    from study.gan.metrics.extractors import extract

    data = load_dataset("digits", 8, 1)
    train = data.split("train")[:200] * 2 - 1  # in a tanh head's range

    class Replay(torch.nn.Module):  # a "generator" that returns training images, jittered by z
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(0.3))

        def forward(self, z):
            return (train[:len(z)] + self.scale * z[:, :1, None, None]).clamp(-1, 1)

    ev = Evaluator(data, EvaluatorOptions(split="test", extractor="digits", resolution=8, channels=1, samples=200,
                                          metrics=("fid", "pr", "dc")), torch.device("cpu"))
    g = Replay()
    z = ev.latents(16, "normal")
    result = ev(g, z, -1.0, 1.0)
    with torch.no_grad():
        fake = extract(ev.extractor, ev.model, ((g(z) + 1) / 2).clamp(0, 1)).numpy()
    ref = prdc.compute_prdc(real_features=ev.stats.features, fake_features=fake, nearest_k=3)
    assert abs(result.extra["pr_precision"] - ref["precision"]) <= 1e-6
    assert abs(result.extra["pr_recall"] - ref["recall"]) <= 1e-6
    assert 0 < ref["precision"] < 1 and 0 < ref["recall"] < 1
    ref5 = prdc.compute_prdc(real_features=ev.stats.features, fake_features=fake, nearest_k=5)
    assert abs(result.extra["dc_density"] - ref5["density"]) <= 1e-6
    assert abs(result.extra["dc_coverage"] - ref5["coverage"]) <= 1e-6
    assert 0 < ref5["density"] and 0 < ref5["coverage"] < 1
    assert not torch.equal(ev.real_radii(3), ev.real_radii(5))
