"""The bootstrap of the top-k% statistic against the exact distribution over every one of the n^n
ordered resamples of tiny groups, the exact law of a resample's order statistic, pairwise
probabilities against enumeration of both groups, Holm's correction by hand, the interval's
coverage in simulated studies, the seed spread by hand, and the report's tables and plot."""
import itertools
import math
import statistics
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.stats import gamma

from analysis.confidence import (
    holm,
    order_statistic_cdf,
    pairwise,
    prob_lower,
    summarize_with_interval,
    top_bootstrap,
    top_intervals,
    top_seed_spread,
)

NAN = float("nan")
B = 200_000  # resamples where the bootstrap is compared with an exact distribution


def top_k_median(values, k, higher=False):
    """The rule written out again: the median of the k best finite values (fewer if fewer are
    finite); no finite value is the worst outcome."""
    best = sorted((v for v in values if math.isfinite(v)), reverse=higher)[:k]
    if not best:
        return -math.inf if higher else math.inf
    return statistics.median(best)


def exact_distribution(values, k, higher=False):
    """{statistic: probability} over all n^n equally likely ordered resamples of ``values``."""
    n = len(values)
    counts = Counter(top_k_median([values[i] for i in draw], k, higher)
                     for draw in itertools.product(range(n), repeat=n))
    return {v: c / n ** n for v, c in counts.items()}


def exact_quantile(dist, q, higher=False):
    """The smallest value whose CDF reaches q, or None where a CDF step lies within 0.003 of q
    (there the bootstrap's quantile may take either neighbour)."""
    support = sorted(dist)
    cdf = np.cumsum([dist[v] for v in support])
    if np.any(np.abs(cdf - q) < 0.003):
        return None
    return support[int(np.argmax(cdf >= q))]


def one_group(values):
    return pd.DataFrame({"g": "x", "fid": values})


CASES = [  # values, fraction, k = max(1, ceil(fraction * n)) worked out by hand, higher is better
    ([3.0, 1.0, 2.0], 0.05, 1, False),                  # ceil(0.15) = 1: the minimum
    ([4.0, 1.0, NAN, 2.0, 9.0], 0.4, 2, False),         # ceil(2.0) = 2: the mean of the two best; NaN counts in n
    ([5.0, 1.0, 1.0, 3.0, 7.0, NAN], 0.5, 3, False),    # ceil(3.0) = 3, a tie
    ([6.0, 2.0, NAN, NAN, 3.0, 8.0], 0.3, 2, False),    # ceil(1.8) = 2; resamples with 0 or 1 finite value
    ([0.2, 0.9, 0.5, NAN], 0.5, 2, True),               # recall-like: the top is the two highest
    ([2.0, 6.0, 1.0, 5.0, 3.0, 4.0], 1.0, 6, False),    # k = n: the whole resample's median, both ends inside
]


@pytest.mark.parametrize("values, fraction, k, higher", CASES)
def test_bootstrap_distribution_and_interval_equal_exact_enumeration(values, fraction, k, higher):
    exact = exact_distribution(values, k, higher)
    boot = top_bootstrap(one_group(values), "g", fraction, resamples=B, seed=3, higher_is_better=higher)
    assert boot.top[0] == min(k, sum(math.isfinite(v) for v in values))
    assert boot.statistic[0] == top_k_median(values, k, higher)
    got = Counter(boot.draws[0].tolist())
    tv = 0.5 * sum(abs(got.get(v, 0) / B - exact.get(v, 0)) for v in set(got) | set(exact))
    assert tv < 0.005, (tv, exact)
    ci = top_intervals(boot).iloc[0]
    low, high = exact_quantile(exact, 0.025), exact_quantile(exact, 0.975)
    assert low is not None or high is not None  # each case checks at least one end
    if low is not None:
        assert ci["median_low"] == low
    if high is not None:
        assert ci["median_high"] == high


def test_exact_intervals_by_hand():
    # n = 4, k = 1: the statistic is the resample's minimum, P(min* >= x_(i)) = ((5 - i) / 4)^4:
    # P(min* = 1, 2, 3, 4) = 175, 65, 15, 1 (/ 256). CDF: 0.68, 0.94, 0.996: the 2.5% quantile is
    # 1, the 97.5% quantile 3 (0.94 < 0.975 <= 0.996); 4 lies outside the interval.
    values = [4.0, 2.0, 1.0, 3.0]
    assert exact_distribution(values, 1) == pytest.approx({1.0: 175 / 256, 2.0: 65 / 256, 3.0: 15 / 256,
                                                           4.0: 1 / 256})
    ci = top_intervals(top_bootstrap(one_group(values), "g", resamples=B)).iloc[0]
    assert (ci["median_low"], ci["median"], ci["median_high"]) == (1.0, 1.0, 3.0)


def test_order_statistic_law_against_enumeration_and_the_sampler():
    n = 5
    draws = np.array(list(itertools.product(range(1, n + 1), repeat=n)))
    ordered = np.sort(draws, axis=1)
    for j in range(1, n + 1):
        enumerated = [(ordered[:, j - 1] <= i).mean() for i in range(1, n + 1)]
        assert order_statistic_cdf(n, j) == pytest.approx(enumerated, abs=1e-12)
    # 45 finite values and 5 diverged: k = ceil(0.1 * 50) = 5, the median is the third smallest
    # (a resample with fewer than 5 finite values has probability ~1e-40)
    values = np.r_[np.arange(1.0, 46.0), [NAN] * 5]
    boot = top_bootstrap(pd.DataFrame({"g": "x", "fid": values}), "g", 0.1, resamples=B, seed=5)
    empirical = [(boot.draws[0] <= i).mean() for i in range(1, 46)]
    assert np.abs(np.array(empirical) - order_statistic_cdf(50, 3)[:45]).max() < 0.004


def test_pairwise_probability_equals_enumeration_of_both_groups():
    a, b = [3.0, 1.0, NAN, 2.0], [2.5, 4.0, 1.5]  # k = ceil(0.5 * 4) = 2 and ceil(0.5 * 3) = 2
    pa, pb = exact_distribution(a, 2), exact_distribution(b, 2)
    exact = sum(p * q * (1.0 if x < y else 0.5 if x == y else 0.0) for x, p in pa.items() for y, q in pb.items())
    df = pd.concat([pd.DataFrame({"g": "a", "fid": a}), pd.DataFrame({"g": "b", "fid": b})])
    boot = top_bootstrap(df, "g", 0.5, resamples=B, seed=11)
    assert prob_lower(boot.draws[0], boot.draws[1]) == pytest.approx(exact, abs=0.004)
    row = pairwise(boot).iloc[0]  # a first: its statistic (1.5) is lower than b's (2.0)
    assert (row["a"], row["b"]) == ("a", "b") and row["p_a_lower"] == pytest.approx(exact, abs=0.004)
    assert row["p_value"] == pytest.approx(2 * min(row["p_a_lower"], 1 - row["p_a_lower"]))
    assert row["p_holm"] == row["p_value"] and (row["verdict"], row["better"]) == ("no clear difference", "")


def test_prob_lower_counts_ties_half():
    assert prob_lower(np.array([1.0, 2.0]), np.array([2.0, 3.0])) == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert prob_lower(np.array([np.inf]), np.array([np.inf])) == 0.5


def test_holm_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 0.5 x 2 = 1; 0.6 x 1 lifted to 1
    assert holm([0.02]) == pytest.approx([0.02])


def test_pairwise_verdicts_holm_and_direction():
    rng = np.random.default_rng(0)
    groups = {"a": rng.normal(0.9, 0.01, 200), "b": rng.normal(0.5, 0.01, 200), "c": rng.normal(0.5, 0.01, 200)}
    df = pd.concat([pd.DataFrame({"m": k, "recall": v}) for k, v in groups.items()])
    table = pairwise(top_bootstrap(df, "m", metric="recall", higher_is_better=True))
    assert table.attrs["pairs"] == 3 and table["p_holm"].tolist() == pytest.approx(holm(table["p_value"]).tolist())
    first = table.iloc[0]  # a has the highest recall: listed first, and better
    assert first["a"] == "a" and first["p_a_lower"] == 0 and first["p_value"] == 1 / 2000
    assert first["verdict"] == f"a > {first['b']}" and first["better"] == "a"
    same = table.iloc[2]  # b and c come from the same distribution: P(b* < c*) = 0.23 with this seed
    assert {same["a"], same["b"]} == {"b", "c"} and (same["verdict"], same["better"]) == ("no clear difference", "")


@pytest.mark.parametrize("n, low, high", [(400, 0.92, 0.98), (20, 0.0, 0.6)])
def test_coverage_of_the_interval_in_simulated_studies(n, low, high):
    """400 simulated studies of n trials each: FID = 20 + Gamma(2, scale 30), 10% of the trials
    diverged (NaN, +inf in the ordering). The statistic (the median of the top 5%) estimates the
    population's 2.5% quantile, the middle of its best 5%: with diverged trials counted, the
    finite distribution's quantile at 0.025 / 0.9. At n = 400 (k = 20) the 95% interval covers it
    about 95% of the time; at n = 20 (k = 1, the minimum) far less (SMALL_TOP's warning)."""
    rng = np.random.default_rng(2026)
    studies = 400
    fid = 20 + rng.gamma(2.0, 30.0, size=(studies, n))
    fid[rng.random((studies, n)) < 0.1] = np.nan
    df = pd.DataFrame({"study": np.repeat(np.arange(studies), n), "fid": fid.ravel()})
    ci = top_intervals(top_bootstrap(df, "study", 0.05, seed=1))
    truth = 20 + gamma.ppf(0.025 / 0.9, 2.0, scale=30.0)
    coverage = float(((ci["median_low"] <= truth) & (truth <= ci["median_high"])).mean())
    print(f"n = {n}: measured coverage of the 95% interval {coverage:.3f} over {studies} studies")
    assert low <= coverage <= high


def test_seed_spread_by_hand():
    rows = [("a", 0, 10.0), ("a", 0, 14.0), ("a", 1, 12.0), ("a", 1, 12.0), ("a", 2, 11.0), ("a", 2, NAN),
            ("b", 0, 5.0), ("b", 0, 6.0)]
    df = pd.DataFrame(rows, columns=["model", "seed", "fid"])
    table = top_seed_spread(df, "model", resamples=B)
    assert list(table.index) == ["a"]  # b ran under one seed
    a = table.loc["a"]
    # k = 1 per seed (2 trials): the statistics are 10, 12 and 11 -> mean 11, sd (ddof 1) 1.
    # Seed 0's resampled minimum is 10 with probability 3/4 and 14 with 1/4: standard error
    # 4 sqrt(3/16) = sqrt(3); seed 1's is always 12 (0); seed 2's is 11 or no finite value (left
    # out): 0. within_se = sqrt(3) / 3.
    assert (a["seeds"], a["trials_per_seed"], a["mean"], a["between_sd"]) == (3, 2, 11.0, pytest.approx(1.0))
    assert a["within_se"] == pytest.approx(math.sqrt(3) / 3, rel=0.01)
    assert a["ratio"] == pytest.approx(math.sqrt(3), rel=0.01)
    assert top_seed_spread(df[df["seed"] == 0], "model").empty


def test_summary_with_interval_in_both_directions_by_hand():
    df = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "recall": [0.9, 0.8, 0.1, NAN, 0.5, 0.6, 0.4, 0.3]})
    columns = ["count", "min", "median", "mean", "max"]
    # k = 2 of 4: the highest two are a: 0.9, 0.8 and b: 0.6, 0.5 (a first); the lowest two a: 0.1, 0.8, b: 0.3, 0.4
    high = summarize_with_interval(df, "g", 0.5, "recall", higher_is_better=True)
    assert list(high.index) == ["a", "b"]
    assert high[columns].to_numpy() == pytest.approx(np.array([[2, 0.8, 0.85, 0.85, 0.9], [2, 0.5, 0.55, 0.55, 0.6]]))
    low = summarize_with_interval(df, "g", 0.5, "recall")
    assert list(low.index) == ["b", "a"]
    assert low[columns].to_numpy() == pytest.approx(np.array([[2, 0.3, 0.35, 0.35, 0.4], [2, 0.1, 0.45, 0.45, 0.8]]))
    for table in (high, low):
        assert (table["median_low"] <= table["median"]).all() and (table["median"] <= table["median_high"]).all()
    boot = top_bootstrap(df, "g", 0.5, "recall", higher_is_better=True)
    assert summarize_with_interval(df, "g", 0.5, "recall", boot=boot, higher_is_better=True).equals(high)
    with pytest.raises(ValueError, match="higher_is_better"):
        summarize_with_interval(df, "g", 0.5, "recall", boot=boot)


def test_groups_without_finite_values_and_the_seed_make_it_reproducible():
    df = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 2, "fid": [1.0, 2.0, 3.0, NAN, np.inf]})
    first, again = top_bootstrap(df, "g", seed=7), top_bootstrap(df, "g", seed=7)
    assert np.array_equal(first.draws, again.draws)
    ci = top_intervals(first)
    assert math.isnan(ci.loc["b", "median"]) and ci.loc["b", "median_low"] == np.inf and ci.loc["b", "top"] == 0
    with pytest.raises(ValueError, match="fraction"):
        top_bootstrap(df, "g", fraction=0)


def test_report_tables_and_boxplot_carry_the_intervals(tmp_path):
    import analysis
    from analysis.report import _top_figure, _top_tables
    from tests.analysis.test_report import synthetic_study

    df = analysis.load(str(synthetic_study(tmp_path)))
    tables = dict(_top_tables(df, ["loss", "d_norm", "model"], 0.05))
    summary = next(t for title, t in tables.items() if title.startswith("FID of the top 5% of trials per d_norm"))
    assert list(summary.columns) == ["count", "min", "median", "median_low", "median_high", "mean", "max"]
    assert (summary["median_low"] <= summary["median"]).all() and (summary["median"] <= summary["median_high"]).all()
    pairs = next(t for title, t in tables.items() if "Which model" in title and "m = 6 pairs" in title)
    assert len(pairs) == 6 and {"p_a_lower", "p_holm", "verdict"} <= set(pairs.columns)
    assert any("sn < bn" in t["verdict"].iloc[0] for title, t in tables.items() if "Which d_norm" in title)
    seeds = next(t for title, t in tables.items() if "under each seed" in title)
    assert len(seeds) == 4 and (seeds["seeds"] == 2).all()  # the grid ran under seeds 0 and 1
    fig = _top_figure(df, ["loss", "d_norm"], 0.05)
    bars = [c for c in fig.axes[0].containers if isinstance(c, matplotlib_errorbar())]
    ends = sorted(tuple(seg[:, 1]) for seg in bars[0].lines[2][0].get_segments())
    ci = top_intervals(top_bootstrap(df, ["loss", "d_norm"]))
    assert ends == sorted(zip(ci["median_low"], ci["median_high"]))
    assert "95% interval of the median" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)


def matplotlib_errorbar():
    from matplotlib.container import ErrorbarContainer

    return ErrorbarContainer


def test_analyze_prints_the_intervals(tmp_path, capsys):
    from analysis.cli import analyze
    from tests.analysis.test_report import synthetic_study

    assert analyze(str(synthetic_study(tmp_path / "study")), out=str(tmp_path / "out")) == 0
    printed = capsys.readouterr().out
    assert "95% bootstrap percentile interval of the median" in printed
    assert printed.count("median_low") >= 4  # the note and the tables per loss, d_norm and model
