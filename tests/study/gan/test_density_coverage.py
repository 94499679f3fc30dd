"""Density and coverage (Naeem et al. 2020): cases worked by hand, the reference prdc package on
the same features, and the evaluator's and a trial's columns."""
import math

import numpy as np
import pytest
import torch

from study.gan.metrics.density_coverage import NEAREST_K, density_coverage
from study.gan.metrics.precision_recall import knn_radii


def _line(*xs):
    return np.array([[x, 0.0] for x in xs])


def test_hand_worked_case_on_a_line_with_k1():
    real = _line(0, 1, 3, 7)  # k = 1 radii: 1, 1, 2, 4
    fake = _line(0.5, 0.6, 2.5, 12)
    assert knn_radii(real, k=1).tolist() == [1.0, 1.0, 4.0, 16.0]  # squared
    # 0.5 and 0.6 lie in the balls of 0 and 1 (2 each), 2.5 in that of 3 (0.5 <= 2; 1.5 > 1 from 1),
    # 12 in none (5 > 4): density (2 + 2 + 1 + 0) / (1 * 4) = 1.25, above 1 where samples crowd.
    # The balls of 0, 1 and 3 hold a sample, that of 7 none: coverage 3 / 4.
    dc = density_coverage(real, fake, k=1)
    assert dc.density == 1.25 and dc.coverage == 0.75


def test_hand_worked_case_in_the_plane_with_k2():
    real = np.array([[0.0, 0.0], [1, 0], [0, 1], [5, 5]])
    # 2nd nearest of the others: from (0,0): 1, 1 -> 1; from (1,0): 1, sqrt 2 -> sqrt 2; from (0,1)
    # likewise; from (5,5): sqrt 41, sqrt 41, sqrt 50 -> sqrt 41
    assert knn_radii(real, k=2).tolist() == [1.0, 2.0, 2.0, 41.0]  # squared
    fake = np.array([[0.2, 0.1], [-3, 0], [-3, 0.5]])
    # (0.2, 0.1): squared distances 0.05 <= 1, 0.65 <= 2, 0.85 <= 2, 47.05 > 41: in 3 balls;
    # (-3, 0): 9, 16, 10, 89: none; (-3, 0.5): 9.25, 16.25, 9.25, 84.25: none.
    dc = density_coverage(real, fake, k=2)
    assert dc.density == pytest.approx(3 / (2 * 3)) and dc.coverage == 0.75


def test_a_sample_on_a_ball_boundary_counts_as_inside_where_prdc_leaves_it_out():
    """Ties: |11 - 7| = 4 is exactly the k = 1 radius of 7. Here (<=, as precision and recall)
    it is inside; prdc's strict < leaves it out. Only exact ties differ (duplicated or lattice data)."""
    real, fake = _line(0, 1, 3, 7), _line(11, 20, 30)  # prdc needs k + 2 samples for the fakes' radii
    dc = density_coverage(real, fake, k=1)
    assert dc.density == pytest.approx(1 / 3) and dc.coverage == 0.25
    prdc = pytest.importorskip("prdc")
    ref = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=1)
    assert ref["density"] == 0.0 and ref["coverage"] == 0.0


def test_chunking_device_and_given_radii_do_not_change_the_result():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(300, 16)), rng.normal(0.3, 1.2, size=(257, 16))
    whole = density_coverage(real, fake, chunk=10_000)
    assert density_coverage(real, fake, chunk=7) == whole
    assert density_coverage(real, fake, chunk=64, real_radii=knn_radii(real, k=NEAREST_K)) == whole
    assert 0 < whole.density and 0 < whole.coverage < 1
    if torch.cuda.is_available():
        assert density_coverage(real, fake, device="cuda") == whole
    with pytest.raises(ValueError, match="real_radii: need one per real point"):
        density_coverage(real, fake, real_radii=knn_radii(real[:10], k=NEAREST_K))
    with pytest.raises(ValueError, match="dimensions differ"):
        density_coverage(real, fake[:, :8])


# (scale, offset) of the generated Gaussian against the real N(0, I): measured here, density /
# coverage about 0.50 / 0.81, 0.11 / 0.38, 0.43 / 0.95, 1.11 / 0.69 and 4.85 / 0.99 (a shrunken
# set crowds the dense middle: density well above 1).
@pytest.mark.parametrize("n_real,n_fake,dim,scale,offset", [(500, 400, 64, 1.05, 0.05), (360, 360, 2048, 1.02, 0.02),
                                                             (200, 600, 8, 1.3, 0.3), (1000, 250, 32, 1.0, 0.0),
                                                             (400, 300, 16, 0.6, 0.1)])
def test_equals_the_prdc_package(n_real, n_fake, dim, scale, offset):
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(dim + n_real)
    real = rng.normal(size=(n_real, dim)).astype(np.float32)
    fake = (rng.normal(size=(n_fake, dim)) * scale + offset).astype(np.float32)
    ref = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    ours = density_coverage(real, fake, k=5, chunk=128)
    print(f"density {ours.density} vs {ref['density']}; coverage {ours.coverage} vs {ref['coverage']}")
    assert abs(ours.density - ref["density"]) <= 1e-6
    assert abs(ours.coverage - ref["coverage"]) <= 1e-6
    assert 0.1 < ours.density and 0.3 < ours.coverage < 1  # cases where the balls matter


def test_with_a_statistics_file_the_evaluator_reports_nan(tmp_path):
    """No real features with ``fid_stats``: NaN, as for precision and recall. (The evaluator's
    values against prdc: tests/study/gan/test_precision_recall.py, with ``pr`` beside.)"""
    from study.gan.data import load_dataset
    from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions
    from study.gan.metrics.stats_file import save_stats

    data = load_dataset("digits", 8, 1)
    options = dict(split="test", extractor="digits", resolution=8, channels=1, samples=50, metrics=("fid", "dc"))
    ev = Evaluator(data, EvaluatorOptions(**options), torch.device("cpu"))
    stats = save_stats(tmp_path / "real.npz", ev.stats.mu, ev.stats.sigma)
    from_file = Evaluator(data, EvaluatorOptions(**options, stats_file=str(stats)), torch.device("cpu"))
    g = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 8, 8)))
    z = from_file.latents(16, "normal")
    extra = from_file(g, z, -1.0, 1.0).extra
    assert math.isnan(extra["dc_density"]) and math.isnan(extra["dc_coverage"])
    extra = ev(g, z, -1.0, 1.0).extra
    assert math.isfinite(extra["dc_density"]) and math.isfinite(extra["dc_coverage"])


def test_a_digits_trial_with_metrics_fid_dc_reports_density_and_coverage():
    from study.gan.config import TrialConfig
    from study.gan.trial import run_trial

    rows = []
    run_trial(TrialConfig.from_dict(dict(width=0.125, z_dim=16, batch_size=32, steps=20, eval_every=10, resolution=8,
                                         eval_samples=200, metrics="fid+dc")), rows.append)
    assert len(rows) == 2
    for r in rows:
        assert math.isfinite(r["dc_density"]) and r["dc_density"] >= 0.0
        assert math.isfinite(r["dc_coverage"]) and 0.0 <= r["dc_coverage"] <= 1.0
        assert "pr_precision" not in r
