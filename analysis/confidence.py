"""How sure is a top-k% comparison? Bootstrap intervals of each group's top-k% statistic, pairwise
comparisons with a multiple-comparison correction, and the spread between seeds beside the
spread the bootstrap sees within one seed.

The statistic is analysis/top.py's: for a group of n trials (those without a finite value count
in n, never in the top), k = max(1, ceil(fraction * n)) and the statistic is the median of the k
best finite values. A bootstrap resample draws n of the group's trials with replacement (the
non-finite ones included) and applies the same rule inside the resample; the interval is the
percentile interval (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13) of
the resampled statistics. A resample without a finite value has the worst statistic (+inf for a
metric where lower is better, -inf where higher is), so a group where most trials diverge gets
an unbounded interval instead of a hidden one.

Resampling is exact in distribution without drawing n trials per resample. With the group's m
finite values sorted (oriented so that lower is better), x_(1) <= ... <= x_(m):

- the number F of finite trials in a resample is Binomial(n, m / n), and given F they are F
  independent uniform draws from the m values, so only r = min(F, k) of them make the top and
  the median is the average of the draws of ranks (r - 1) // 2 + 1 and r // 2 + 1;
- the j-th smallest of F uniform draws from {1..m} is ceil(m U_(j)) with U_(j) the j-th order
  statistic of F continuous uniforms, and U_(j) = S_j / S_(F+1) where S are partial sums of
  unit exponentials, so S_a ~ Gamma(a) and the later partial sums add independent Gamma
  increments (Devroye 1986, "Non-Uniform Random Variate Generation", ch. 5).

A resample therefore costs four random numbers, whatever n and k (a million-row study takes
milliseconds), and the exact law P(X*_(j) <= x_(i)) = P(Binomial(n, i / n) >= j) of an order
statistic of a resample (``order_statistic_cdf``) checks it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binom

from analysis.top import _by, summarize, top_count, top_fraction

LEVEL = 0.95
RESAMPLES = 2000
ALPHA = 0.05
SEED = 0
# Below this many values in the top, the percentile interval covers much less than its level.
# The coverage simulation of tests/analysis/test_confidence.py (95% intervals of the population's
# 2.5% quantile, gamma-distributed FIDs, 10% diverged), run at other group sizes, measured 40% at
# k = 1, 64% at k = 2, 78% at k = 3, 92% at k = 5, 93% at k = 10 and 95% at k = 20. The bootstrap
# of a sample minimum is inconsistent (Bickel & Freedman 1981): a resample's minimum is the
# sample's with probability near 1 - 1/e.
SMALL_TOP = 10


@dataclass(frozen=True)
class TopBootstrap:
    """Per group of ``by`` (the rows of ``index``): trials (n), top (the number of values the
    statistic is the median of: min(k, finite values)), the statistic and its ``draws``
    (groups x resamples, in the metric's own units, +-inf for a resample without a finite value)."""
    by: list[str]
    metric: str
    fraction: float
    higher_is_better: bool
    index: pd.Index
    trials: np.ndarray
    top: np.ndarray
    statistic: np.ndarray
    draws: np.ndarray

    @property
    def resamples(self) -> int:
        return self.draws.shape[1]


def _sorted_groups(df: pd.DataFrame, by: list[str], metric: str,
                   sign: float) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group keys; per group n and m (finite values); the finite values oriented (lower is
    better), sorted within each group and laid end to end; each group's offset into them."""
    grouped = df.groupby(by, observed=True, dropna=False, sort=True)[metric]
    codes = grouped.ngroup().to_numpy()
    index = grouped.size().index
    values = sign * df[metric].to_numpy(dtype=float)
    finite = np.isfinite(values)
    n = np.bincount(codes, minlength=len(index))
    m = np.bincount(codes[finite], minlength=len(index))
    order = np.lexsort((values[finite], codes[finite]))
    flat = values[finite][order]
    offsets = np.concatenate([[0], np.cumsum(m)[:-1]]).astype(int)
    return index, n, m, flat, offsets


def _median_at(flat: np.ndarray, offsets: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The mean of the values of 1-based ranks lo and hi within each group (offsets broadcast;
    ranks past a group's end, as in a group without finite values, read a neighbour: mask them)."""
    return (flat.take(offsets + lo - 1, mode="clip") + flat.take(offsets + hi - 1, mode="clip")) / 2


def _resample(n: np.ndarray, m: np.ndarray, k: np.ndarray, flat: np.ndarray, offsets: np.ndarray,
              resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Oriented statistics of ``resamples`` bootstrap resamples per group (+inf: no finite value)."""
    shape = (len(n), resamples)
    col = lambda a: np.asarray(a)[:, None]  # noqa: E731
    finite = rng.binomial(col(n), col(m / n), size=shape)
    r = np.minimum(finite, col(k))
    lo, hi = (r - 1) // 2 + 1, r // 2 + 1
    s_lo = rng.gamma(np.maximum(lo, 0), size=shape)
    s_hi = s_lo + rng.gamma(hi - lo, size=shape)
    total = s_hi + rng.gamma(np.maximum(finite + 1 - hi, 0), size=shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        rank = lambda s: np.clip(np.ceil(col(m) * (s / total)), 1, np.maximum(col(m), 1)).astype(int)  # noqa: E731
        stat = _median_at(flat, col(offsets), rank(s_lo), rank(s_hi)) if len(flat) else np.zeros(shape)
    return np.where(r > 0, stat, np.inf)


def top_bootstrap(df: pd.DataFrame, by: Sequence[str] | str, fraction: float = 0.05, metric: str = "fid",
                  resamples: int = RESAMPLES, seed: int | np.random.Generator = SEED,
                  higher_is_better: bool = False) -> TopBootstrap:
    """Resample each group's trials ``resamples`` times (with replacement, the top-k rule applied
    inside each resample) and keep the top-k statistic of each resample. ``higher_is_better``:
    the top are the highest values (precision, recall, density, coverage, IS)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: invalid value {fraction}; allowed: 0 < fraction <= 1")
    by, sign = _by(by), (-1.0 if higher_is_better else 1.0)
    index, n, m, flat, offsets = _sorted_groups(df, by, metric, sign)
    k = top_count(n, fraction)
    draws = _resample(n, m, k, flat, offsets, resamples, np.random.default_rng(seed))
    top = np.minimum(m, k)
    point = np.full(len(n), np.nan)
    has = top > 0
    point[has] = _median_at(flat, offsets[has], (top[has] - 1) // 2 + 1, top[has] // 2 + 1)
    return TopBootstrap(by, metric, fraction, higher_is_better, index, n, top, sign * point, sign * draws)


def top_intervals(boot: TopBootstrap, level: float = LEVEL) -> pd.DataFrame:
    """Per group: trials, top, median (the statistic) and its percentile interval at ``level``
    (median_low, median_high: the (1 - level) / 2 and (1 + level) / 2 quantiles of the resampled
    statistics, as the smallest resampled value whose empirical CDF reaches them)."""
    q = np.quantile(boot.draws, [(1 - level) / 2, (1 + level) / 2], axis=1, method="inverted_cdf")
    table = pd.DataFrame({"trials": boot.trials, "top": boot.top, "median": boot.statistic,
                          "median_low": q[0], "median_high": q[1]}, index=boot.index)
    table.attrs.update(level=level, resamples=boot.resamples)
    return table


def summarize_with_interval(df: pd.DataFrame, by: Sequence[str] | str, fraction: float = 0.05, metric: str = "fid",
                            level: float = LEVEL, boot: TopBootstrap | None = None,
                            higher_is_better: bool = False) -> pd.DataFrame:
    """``summarize`` of the top ``fraction`` (lowest ``metric``; highest with ``higher_is_better``)
    with the interval of the median beside it: count, min, median, median_low, median_high, mean,
    max in the metric's own units; best median first. ``boot``: resamples already drawn by
    ``top_bootstrap`` for the same groups and direction (else drawn with its defaults)."""
    if boot is not None and boot.higher_is_better != higher_is_better:
        raise ValueError(f"boot: drawn with higher_is_better={boot.higher_is_better}; "
                         f"allowed: resamples drawn with higher_is_better={higher_is_better}")
    if higher_is_better:  # the top of the negated column, as analysis/agreement.py's ``oriented``
        negated = df.assign(**{metric: -pd.to_numeric(df[metric], errors="coerce").astype(float)})
        table = summarize(top_fraction(negated, by, fraction, metric), by, metric)
        table = table.assign(min=-table["max"], median=-table["median"], mean=-table["mean"], max=-table["min"])
        table = table.sort_values("median", ascending=False, kind="stable")
    else:
        table = summarize(top_fraction(df, by, fraction, metric), by, metric)
    if boot is None:
        boot = top_bootstrap(df, by, fraction, metric, higher_is_better=higher_is_better)
    table = table.join(top_intervals(boot, level)[["median_low", "median_high"]])
    return table[["count", "min", "median", "median_low", "median_high", "mean", "max"]]


def interval_note(level: float = LEVEL, resamples: int = RESAMPLES, min_top: int | None = None) -> str:
    """What median_low and median_high are, for a table's title or a printed header; with the
    warning that they are too narrow where fewer than SMALL_TOP trials make the top, unless
    ``min_top`` (the smallest count of the table) says none is that small."""
    note = (f"median_low, median_high: {level:.0%} bootstrap percentile interval of the median ({resamples:,} "
            f"resamples of the group's trials, the top-k rule applied in each; Efron & Tibshirani 1993)")
    if min_top is None or min_top < SMALL_TOP:
        note += (f"; where count < {SMALL_TOP} the interval is too narrow (with count 1 its low end is the best "
                 f"trial: the bootstrap cannot see below the sample's minimum)")
    return note


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values: with the m p-values sorted, p_(1) <= ... <= p_(m),
    adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)). Rejecting where the adjusted
    value is below alpha keeps the family-wise error rate at alpha, like Bonferroni, but rejects more."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def prob_lower(a: np.ndarray, b: np.ndarray) -> float:
    """P(A < B) + P(A = B) / 2 for A and B drawn independently from the samples ``a`` and ``b``
    (every pair of the two, counted by sorting)."""
    b = np.sort(b)
    right, left = np.searchsorted(b, a, side="right"), np.searchsorted(b, a, side="left")
    return float(((len(b) - right) + (right - left) / 2).sum() / (len(a) * len(b)))


def _label(key: object, by: list[str]) -> str:
    return ", ".join(f"{c}={v}" for c, v in zip(by, key)) if isinstance(key, tuple) else str(key)


def pairwise(boot: TopBootstrap, alpha: float = ALPHA) -> pd.DataFrame:
    """Every pair of groups (a before b in the order of the statistic, best first): p_a_lower =
    P(stat_a* < stat_b*) over independent resamples of the two groups (ties count half); the
    two-sided bootstrap p-value 2 min(P, 1 - P), clipped to [1 / resamples, 1] (below alpha exactly
    when the percentile interval of stat_a* - stat_b* at level 1 - alpha leaves out 0); Holm's
    adjustment over the m pairs of the table (``attrs["pairs"]``); the verdict at ``alpha``, and
    ``better``, the group the verdict favours ("" when none)."""
    order = np.argsort(-boot.statistic if boot.higher_is_better else boot.statistic, kind="stable")
    rows = []
    for x, i in enumerate(order):
        for j in order[x + 1:]:
            p = prob_lower(boot.draws[i], boot.draws[j])
            rows.append((_label(boot.index[i], boot.by), _label(boot.index[j], boot.by), p,
                         float(np.clip(2 * min(p, 1 - p), 1 / boot.resamples, 1))))
    table = pd.DataFrame(rows, columns=["a", "b", "p_a_lower", "p_value"])
    table["p_holm"] = holm(table["p_value"].to_numpy())
    clear = table["p_holm"] < alpha
    lower = table["p_a_lower"] > 0.5
    table["verdict"] = np.where(clear, np.where(lower, table["a"] + " < " + table["b"],
                                                table["a"] + " > " + table["b"]), "no clear difference")
    a_better = lower == (not boot.higher_is_better)
    table["better"] = np.where(clear, np.where(a_better, table["a"], table["b"]), "")
    table.attrs.update(pairs=len(table), alpha=alpha, resamples=boot.resamples)
    return table


def pairwise_note(table: pd.DataFrame) -> str:
    """How the pairwise table was made, with m, for its title."""
    return (f"P(a < b) from {table.attrs['resamples']:,} bootstrap resamples of each group; two-sided p-values, "
            f"Holm-Bonferroni over m = {table.attrs['pairs']} pairs (Holm 1979), alpha {table.attrs['alpha']}")


def top_seed_spread(df: pd.DataFrame, by: Sequence[str] | str, fraction: float = 0.05, metric: str = "fid",
                    seed_column: str = "seed", resamples: int = RESAMPLES, seed: int | np.random.Generator = SEED,
                    higher_is_better: bool = False) -> pd.DataFrame:
    """Per group of ``by`` whose trials ran under two or more seeds: the top-k statistic computed
    under each seed apart; between_sd, the standard deviation (ddof 1) of those per-seed values
    across seeds, beside within_se, the mean over seeds of the bootstrap standard error of the
    per-seed value (the spread the intervals account for), and their ratio. A ratio well above 1
    says a rerun under another seed moves the statistic more than the intervals allow for; a seed
    of one trial has a standard error of 0 (the bootstrap cannot see seed noise in one trial).
    Columns: seeds, trials_per_seed, mean, between_sd, within_se, ratio; empty with one seed."""
    by = _by(by)
    columns = ["seeds", "trials_per_seed", "mean", "between_sd", "within_se", "ratio"]
    if seed_column not in df or df[seed_column].nunique() < 2:
        return pd.DataFrame(columns=by + columns).set_index(by)
    boot = top_bootstrap(df, by + [seed_column], fraction, metric, resamples, seed, higher_is_better)
    per_seed = pd.DataFrame({"value": boot.statistic, "trials": boot.trials,
                             "se": _finite_std(boot.draws)}, index=boot.index)
    grouped = per_seed.groupby(level=list(range(len(by))), sort=True)
    table = pd.DataFrame({"seeds": grouped["value"].count(), "trials_per_seed": grouped["trials"].mean(),
                          "mean": grouped["value"].mean(), "between_sd": grouped["value"].std(ddof=1),
                          "within_se": grouped["se"].mean()})
    table["ratio"] = table["between_sd"] / table["within_se"]
    table = table[table["seeds"] >= 2]
    table.index.names = by
    return table[columns]


def _finite_std(draws: np.ndarray) -> np.ndarray:
    """Per row, the standard deviation (ddof 1) of the finite values (resamples without a finite
    trial left out); NaN with fewer than two."""
    finite = np.isfinite(draws)
    count = finite.sum(axis=1)
    x = np.where(finite, draws, 0.0)
    mean = x.sum(axis=1) / np.maximum(count, 1)
    ss = (np.where(finite, draws - mean[:, None], 0.0) ** 2).sum(axis=1)
    return np.where(count > 1, np.sqrt(ss / np.maximum(count - 1, 1)), np.nan)


def order_statistic_cdf(n: int, j: int) -> np.ndarray:
    """The exact law of the j-th smallest value of a bootstrap resample of n distinct sorted
    values: entry i - 1 is P(X*_(j) <= x_(i)) = P(Binomial(n, i / n) >= j), for i = 1..n (at least
    j of the n draws fall at or below x_(i))."""
    i = np.arange(1, n + 1)
    return binom.sf(j - 1, n, i / n)
