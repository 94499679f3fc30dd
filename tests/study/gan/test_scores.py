"""IS, KID, pixel histograms and reconstruction error against known answers and direct
implementations."""
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from study.gan.metrics.frechet import feature_statistics, frechet_distance
from study.gan.metrics.reconstruction import reconstruction_error
from study.gan.metrics.scores import inception_score, kernel_inception_distance, pixel_histogram_distance


def test_inception_score_known_cases():
    # confident and evenly spread over 10 classes: IS = 10; identical predictions: IS = 1
    logits = np.full((100, 10), -50.0)
    logits[np.arange(100), np.arange(100) % 10] = 50.0
    assert inception_score(logits, splits=10)[0] == pytest.approx(10.0, rel=1e-6)
    assert inception_score(np.zeros((100, 10)), splits=10) == pytest.approx((1.0, 0.0))
    # two equiprobable classes, each image certain: IS = 2
    two = np.tile([[30.0, -30.0], [-30.0, 30.0]], (50, 1))
    assert inception_score(two, splits=5)[0] == pytest.approx(2.0, rel=1e-6)


def kid_direct(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, all pairs written out."""
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_the_all_pairs_estimate():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(13, 5)), rng.normal(0.5, 1.0, size=(13, 5))
    mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=12)
    # subsets of 12 of 13, drawn as torch-fidelity draws them, each against the written-out estimate
    draw = np.random.RandomState(0)
    direct = [kid_direct(x[draw.choice(13, 12, replace=False)], y[draw.choice(13, 12, replace=False)])
              for _ in range(3)]
    assert mean == pytest.approx(np.mean(direct), rel=1e-10) and std == pytest.approx(np.std(direct), rel=1e-8)
    same = rng.normal(size=(400, 5))
    assert abs(kernel_inception_distance(same[:200], same[200:], subsets=20, subset_size=100)[0]) < 0.05
    assert kernel_inception_distance(x, y + 3.0, subsets=5, subset_size=10)[0] > 1.0


def test_kid_subsets_are_smaller_than_the_sets_so_their_spread_means_something():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 5)), rng.normal(0.3, 1.0, size=(40, 5))
    mean, std = kernel_inception_distance(x, y, subsets=50, subset_size=1000)  # fewer samples than 1,000
    assert std > 1e-3  # subsets of 20 of 40: a real spread, not ~1e-16
    assert mean == pytest.approx(kid_direct(x, y), rel=0.3)  # unbiased either way


def test_inception_score_splits_at_i_n_over_10_like_openai_and_torch_fidelity():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(25, 4)) * 3
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(10):  # OpenAI's inception_score: part = preds[i * N // splits:(i + 1) * N // splits]
        part = p[i * 25 // 10:(i + 1) * 25 // 10]
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    assert inception_score(logits) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-10)


def test_pixel_histogram_distance():
    a = np.random.default_rng(0).random((20, 3, 4, 4))
    assert pixel_histogram_distance(a, a) == 0.0
    assert pixel_histogram_distance(a * 0.4, a * 0.4 + 0.6) == pytest.approx(1.0)  # disjoint supports
    half = np.zeros((2, 1, 1, 2))
    half[:, :, :, 1] = 1.0  # half the pixels 0, half 1
    assert pixel_histogram_distance(half, np.zeros((2, 1, 1, 2))) == pytest.approx(0.5)


def test_frechet_matches_sqrtm_on_real_features():
    import scipy.linalg

    from study.gan.data import load_dataset
    from study.gan.metrics.extractors import EXTRACTORS, extract

    ex = EXTRACTORS.get("digits")
    model = ex.load(torch.device("cpu"), "")
    data = load_dataset("digits", 16, 1)
    mu1, s1 = feature_statistics(extract(ex, model, data.train).numpy())
    mu2, s2 = feature_statistics(extract(ex, model, data.test).numpy())
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)


class Linear(nn.Module):
    """G(z) = sigmoid(W z) as a 1x2x2 image, a generator whose reachable set is known."""

    def __init__(self):
        super().__init__()
        self.w = nn.Linear(4, 4, bias=False)
        with torch.no_grad():
            self.w.weight.copy_(torch.eye(4))

    def forward(self, z):
        return torch.sigmoid(self.w(z)).view(-1, 1, 2, 2)


def test_reconstruction_error_from_zero_latents():
    g = Linear()
    target = torch.tensor([[0.2, 0.8, 0.5, 0.6]]).view(1, 1, 2, 2)
    # at z = 0 the output is 0.5 everywhere: zero steps give the MSE of 0.5 against the target
    start = reconstruction_error(g, target, 4, 0.0, 1.0, steps=0)
    assert start == pytest.approx(((0.5 - target) ** 2).mean().item())
    errors = [reconstruction_error(g, target, 4, 0.0, 1.0, steps=s) for s in (10, 50, 300)]
    assert errors[0] < start and errors[1] < errors[0] and errors[2] < 1e-4  # the target is reachable
    assert torch.equal(g.w.weight, torch.eye(4)) and g.training and g.w.weight.requires_grad


def test_trial_reports_every_metric():
    from study.gan.config import TrialConfig
    from study.gan.trial import run_trial

    rows = []
    run_trial(TrialConfig.from_dict(dict(width=0.125, z_dim=16, batch_size=32, steps=20, eval_every=20, resolution=8,
                                         eval_samples=200, metrics="fid+is+kid+hist+recon", recon_samples=16,
                                         recon_steps=5)), rows.append)
    r = rows[-1]
    for k in ("fid", "inception_score", "kid", "pixel_hist_distance", "recon_error"):
        assert math.isfinite(r[k]), k
    assert 1.0 <= r["inception_score"] <= 10.0 and 0 <= r["pixel_hist_distance"] <= 1
