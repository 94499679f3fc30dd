"""Frechet distance against the sqrtm formula and closed forms."""
import numpy as np
import pytest
import scipy.linalg

from study.gan.metrics.frechet import feature_statistics, frechet_distance


def _sqrtm_reference(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("d,seed", [(4, 0), (32, 1), (64, 2)])
def test_matches_scipy_sqrtm_on_random_covariances(d, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(3 * d, d)), rng.normal(size=(3 * d, d)) @ rng.normal(size=(d, d)) * 0.5
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b + 1.0)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_sqrtm_reference(mu1, s1, mu2, s2), rel=1e-6)


def test_one_dimensional_closed_form():
    # Gaussians N(m1, v1), N(m2, v2): d^2 = (m1 - m2)^2 + (sqrt v1 - sqrt v2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == \
        pytest.approx(4.0 + 1.0)


def test_identical_statistics_give_zero_and_nan_gives_nan():
    rng = np.random.default_rng(0)
    mu, s = feature_statistics(rng.normal(size=(100, 8)))
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-8)
    bad = s.copy()
    bad[0, 0] = np.nan
    assert np.isnan(frechet_distance(mu, bad, mu, s))


def test_statistics_use_n_minus_one():
    x = np.array([[0.0], [2.0]])
    mu, s = feature_statistics(x)
    assert mu[0] == 1.0 and s.item() == 2.0  # ((0-1)^2 + (2-1)^2) / (2 - 1)
    with pytest.raises(ValueError, match="features"):
        feature_statistics(np.zeros((1, 3)))


def test_singular_covariances_use_the_eigh_route_and_still_match_sqrtm():
    # 10 samples in 32-d: both covariances have rank 9, so Cholesky fails on both
    rng = np.random.default_rng(3)
    mu1, s1 = feature_statistics(rng.normal(size=(10, 32)))
    mu2, s2 = feature_statistics(rng.normal(size=(10, 32)) + 0.5)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(s1)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_sqrtm_reference(mu1, s1, mu2, s2), rel=1e-6)
