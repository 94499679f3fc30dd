"""Budget curves against the exact expectation of the minimum of k draws."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from analysis.budget import budget_curves, min_distribution


def brute_force_expected_min(values, k, replace):
    """Enumerate every equally likely draw of k (ordered tuples with replacement, subsets without)."""
    draws = itertools.product(values, repeat=k) if replace else itertools.combinations(values, k)
    mins = [min(d) for d in draws]
    return sum(mins) / len(mins)


@pytest.mark.parametrize("replace", [True, False])
def test_expected_minimum_equals_enumeration(replace):
    values = [30.0, 10.0, 25.0, 10.0, 50.0, 42.0]  # a tie included
    ks = range(1, 5)
    got = min_distribution(np.array(values), ks, replace=replace)
    for k, e in zip(ks, got["expected_min"]):
        assert e == pytest.approx(brute_force_expected_min(values, k, replace), rel=1e-12)


def test_closed_form_for_uniform_values():
    # n values 1..n, with replacement: E[min] = sum_i i * (((n-i+1)/n)^k - ((n-i)/n)^k)
    n, k = 50, 7
    expected = sum(i * (((n - i + 1) / n) ** k - ((n - i) / n) ** k) for i in range(1, n + 1))
    got = min_distribution(np.arange(1.0, n + 1), [k])["expected_min"].iloc[0]
    assert got == pytest.approx(expected, rel=1e-12)
    # and a Monte Carlo bootstrap agrees within its error
    rng = np.random.default_rng(0)
    mc = rng.choice(np.arange(1.0, n + 1), size=(200_000, k)).min(axis=1).mean()
    assert got == pytest.approx(mc, rel=0.01)


def test_curve_is_non_increasing_and_band_brackets_it():
    rng = np.random.default_rng(1)
    d = min_distribution(rng.gamma(2.0, 20.0, size=80), range(1, 81))
    assert (np.diff(d["expected_min"]) <= 1e-12).all()
    assert (d["low"] <= d["expected_min"] + 1e-9).all() and (d["expected_min"] <= d["high"] + 1e-9).all()
    assert d["expected_min"].iloc[-1] < d["expected_min"].iloc[0]  # more budget, strictly better here
    # k = 1: the mean; the 5% quantile of one draw from 1..20 is the first value with cdf >= 0.05
    one = min_distribution(np.arange(1.0, 21.0), [1], quantiles=(0.05, 0.95)).iloc[0]
    assert one["expected_min"] == pytest.approx(10.5) and one["low"] == 1.0 and one["high"] == 19.0


def test_budget_curves_per_group_and_failed_trials():
    df = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 3, "phase": ["grid"] * 7,
                       "fid": [4.0, 2.0, np.nan, 8.0, 1.0, 1.0, 1.0]})
    c = budget_curves(df, ks=[1, 2])
    a = c[c["model"] == "a"].set_index("k")
    assert a.loc[1, "expected_min"] == pytest.approx((4 + 2 + 8) / 3) and a.loc[1, "n"] == 3
    assert c[c["model"] == "b"]["expected_min"].tolist() == pytest.approx([1.0, 1.0], rel=1e-12)
    # counting the diverged trial as FID 100 makes small budgets worse
    worse = budget_curves(df, ks=[1], failed_fid=100.0).set_index("model")
    assert worse.loc["a", "expected_min"] == pytest.approx((4 + 2 + 8 + 100) / 4)
    assert math.isclose(budget_curves(df[df["model"] == "a"], by="model", replace=False)["k"].max(), 3)
