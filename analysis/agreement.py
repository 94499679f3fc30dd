"""Do the metrics agree? The models ranked by every metric a study (or a rescore) computed, the
rank correlation between those rankings, and each comparison's verdict under each metric.

Inception FID is one feature space; Stein et al. (NeurIPS 2023, "Exposing flaws of generative
model evaluation metrics") found the Frechet distance in DINOv2 ViT-L/14 features closer to human
judgement, and precision, recall, density and coverage separate fidelity from diversity. A
conclusion such as "SN beats BN in D" holds more firmly when every feature space and metric says
so. Each metric's statistic per model is the one of the FID tables: the median of the model's top
``fraction`` of trials, "top" meaning lowest for distances (FID, KID, FD) and highest for
precision, recall, density, coverage and the Inception Score. Rescored metrics are columns
``<metric>@<feature_extractor>`` (analysis.rescored); a trial without one (its generator was not
kept) counts in n but never in the top, as a diverged trial does.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from analysis.top import top_fraction

LOWER_IS_BETTER = ("fid", "kid", "fd_dinov2", "intra_fid", "pixel_hist_distance", "recon_error")
HIGHER_IS_BETTER = ("inception_score", "pr_precision", "pr_recall", "dc_density", "dc_coverage")
LABELS = {"fid": "FID", "kid": "KID", "fd_dinov2": "FD-DINOv2", "intra_fid": "intra-FID", "inception_score": "IS",
          "pr_precision": "precision", "pr_recall": "recall", "dc_density": "density", "dc_coverage": "coverage",
          "pixel_hist_distance": "pixel histogram", "recon_error": "reconstruction"}
MIN_VALUES = 2  # a metric ranks models only where at least this many have a value


def base_metric(column: str) -> str:
    """``kid@inception`` -> ``kid``."""
    return column.split("@", 1)[0]


def higher_is_better(column: str) -> bool:
    return base_metric(column) in HIGHER_IS_BETTER


def label(column: str, study_extractor: str = "") -> str:
    """A reader's name: ``fid@dinov2_vitl14`` -> ``FD-DINOv2 (vitl14)``, ``kid@inception`` ->
    ``KID (inception)``; the study's own columns carry its extractor when given."""
    metric, _, extractor = column.partition("@")
    if metric == "fd_dinov2":  # always in ViT-L/14 space, whatever the study's extractor
        return "FD-DINOv2 (vitl14)"
    extractor = extractor or study_extractor
    if metric == "fid" and extractor.startswith("dinov2_"):
        return f"FD-DINOv2 ({extractor.removeprefix('dinov2_')})"
    return f"{LABELS.get(metric, metric)} ({extractor})" if extractor else LABELS.get(metric, metric)


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The metrics present: known result columns and rescored ``<metric>@<extractor>`` columns
    with a finite value in at least two trials. FID first."""
    known = ("fid",) + tuple(c for c in LOWER_IS_BETTER + HIGHER_IS_BETTER if c != "fid")
    rescored = sorted((c for c in df.columns if "@" in str(c) and base_metric(c) in known),
                      key=lambda c: (c.partition("@")[2], known.index(base_metric(c))))  # by space, FID first
    present = [c for c in (*known, *rescored) if c in df.columns]
    return [c for c in present if np.isfinite(pd.to_numeric(df[c], errors="coerce")).sum() >= MIN_VALUES]


def oriented(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as a distance: negated where higher is better, so "top" is always "lowest"."""
    values = pd.to_numeric(df[column], errors="coerce").astype(float)
    return -values if higher_is_better(column) else values


def model_scores(df: pd.DataFrame, metrics: Sequence[str], by: str = "model", fraction: float = 0.05) -> pd.DataFrame:
    """Rows: the groups of ``by``; columns: each metric's median over the group's top
    ``fraction`` of trials (in the metric's own units and direction)."""
    out = {}
    for column in metrics:
        work = df[[by]].assign(value_=oriented(df, column).to_numpy())
        top = top_fraction(work, by, fraction, metric="value_")
        median = top.groupby(by, observed=True)["value_"].median()
        out[column] = -median if higher_is_better(column) else median
    return pd.DataFrame(out).reindex(sorted(df[by].astype(str).unique()))


def rank_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Each metric's ranking of the models (1 = best), ties sharing the lower rank."""
    ranks = {c: oriented(scores, c).rank(method="min") for c in scores.columns}
    return pd.DataFrame(ranks, index=scores.index).astype("Int64")


def rank_agreement(scores: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau (tau-b: ties allowed) between every two metrics' rankings of the models with
    both values: 1 the same order, -1 reversed, 0 unrelated; with the tau test's p-value."""
    rows = []
    for a, b in itertools.combinations(scores.columns, 2):
        both = pd.DataFrame({"a": oriented(scores, a), "b": oriented(scores, b)}).dropna()
        tau, p = kendalltau(both["a"], both["b"]) if len(both) > 1 else (np.nan, np.nan)
        rows.append({"metric_a": a, "metric_b": b, "models": len(both), "kendall_tau": float(tau), "p_value": float(p)})
    return pd.DataFrame(rows, columns=["metric_a", "metric_b", "models", "kendall_tau", "p_value"])


def tau_matrix(tau: pd.DataFrame) -> pd.DataFrame:
    """``rank_agreement``'s pairs as a symmetric metric x metric table (1 on the diagonal)."""
    metrics = list(dict.fromkeys([*tau["metric_a"], *tau["metric_b"]]))
    out = pd.DataFrame(np.eye(len(metrics)), index=pd.Index(metrics, name="metric"), columns=metrics)
    for r in tau.itertuples():
        out.loc[r.metric_a, r.metric_b] = out.loc[r.metric_b, r.metric_a] = r.kendall_tau
    return out


def comparisons(df: pd.DataFrame, factor: str, metrics: Sequence[str], fraction: float = 0.05,
                alpha: float = 0.05, min_values: int = 3) -> pd.DataFrame:
    """Rows: every pair of the factor's levels; columns: each metric's verdict on the pair, from
    the bootstrap of each level's top-``fraction`` statistic (analysis.confidence.pairwise, Holm
    over the pairs of that metric): "<level> better (p_holm ...)" or "no clear difference (...)";
    "too few values" where a level has fewer than ``min_values`` finite values of the metric."""
    from analysis.confidence import pairwise, top_bootstrap

    levels = sorted(df[factor].dropna().astype(str).unique())
    pairs = list(itertools.combinations(levels, 2))
    work = df.assign(**{factor: df[factor].astype(str)})
    out = pd.DataFrame(index=pd.Index([f"{a} vs {b}" for a, b in pairs], name=f"{factor} pair"))
    for column in metrics:
        counts = work.groupby(factor)[column].apply(lambda v: np.isfinite(pd.to_numeric(v, errors="coerce")).sum())
        table = pairwise(top_bootstrap(work, factor, fraction, column, higher_is_better=higher_is_better(column)),
                         alpha)
        cells = {frozenset((r.a, r.b)): (f"{r.better} better" if r.better else "no clear difference")
                 + f" (p_holm {r.p_holm:.2g})" for r in table.itertuples()}
        out[column] = [cells[frozenset(p)] if min(counts.get(p[0], 0), counts.get(p[1], 0)) >= min_values
                       else "too few values" for p in pairs]
    return out


def claims_verdicts(claims: pd.DataFrame, df: pd.DataFrame, metrics: Sequence[str], fraction: float = 0.05,
                    alpha: float = 0.05, verdicts: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Each published claim ("<better> beats <worse> in <factor>") beside what every metric of
    this study says: "yes", "opposite" (this study finds the reverse) or "not shown", with the
    Holm-adjusted p-value of the pair (corrected over the pairs of the claim's factor).
    ``verdicts``: factor -> ``comparisons`` already computed (else computed here)."""
    rows = []
    for factor, group in claims.groupby("factor", sort=False):
        table = (verdicts or {}).get(factor)
        table = comparisons(df, factor, metrics, fraction, alpha) if table is None else table
        for claim in group.itertuples():
            cells = table.loc[" vs ".join(sorted((claim.better, claim.worse)))]
            rows.append({"claim": f"{claim.better} better than {claim.worse} ({factor}): {claim.claim}",
                         "source": claim.source, **{c: _agrees(cells[c], claim.better, claim.worse) for c in metrics}})
    return pd.DataFrame(rows)


def _agrees(cell: str, better: str, worse: str) -> str:
    p = cell[cell.find("(p_holm"):] if "(p_holm" in cell else ""
    if cell.startswith(f"{better} better"):
        return f"yes {p}"
    if cell.startswith(f"{worse} better"):
        return f"opposite {p}"
    return f"not shown {p}".strip()


def agreement_tables(df: pd.DataFrame, factors: Sequence[str], fraction: float = 0.05,
                     claims: pd.DataFrame | None = None, rows: str = "") -> list[tuple[str, pd.DataFrame]]:
    """The report's agreement section: (title, table) pairs; ``rows`` says which evaluation of
    each trial ``df`` holds. Empty when fewer than two metrics are present (nothing to agree)."""
    metrics = metric_columns(df)
    if len(metrics) < 2:
        return []
    extractor = str(df["feature_extractor"].astype(str).iloc[0]) if "feature_extractor" in df else ""
    names = {c: label(c, extractor) for c in metrics}
    pct = f"{fraction:.0%}"
    scores = model_scores(df, metrics, "model", fraction)
    tables = [(f"Each metric's median over the top {pct} of each model's trials" + (f" ({rows})" if rows else ""),
               scores.rename(columns=names)),
              ("The models ranked by each metric (1 = best)", rank_table(scores).rename(columns=names))]
    tau = rank_agreement(scores)
    tables.append((f"Kendall's tau between the metrics' rankings of the {len(scores)} models (1: the same order, "
                   f"-1: reversed; rank_agreement gives each pair's p-value)", tau_matrix(tau).rename(index=names,
                                                                                                 columns=names)))
    verdicts = {f: comparisons(df, f, metrics, fraction) for f in factors if f in df and df[f].nunique() > 1}
    for factor, table in verdicts.items():
        tables.append((f"Verdicts per metric, {factor} (bootstrap of the top {pct}; Holm over the pairs of "
                       f"each metric{_small_note(df, factor, fraction)})", table.rename(columns=names)))
    if claims is not None and not claims.empty:
        tables.append(("The paper's conclusions and this study's verdicts",
                       claims_verdicts(claims, df, metrics, fraction, verdicts=verdicts).rename(columns=names)))
    return tables


def _small_note(df: pd.DataFrame, factor: str, fraction: float) -> str:
    """A warning where some level's top holds fewer than SMALL_TOP trials: there the bootstrap of
    a near-minimum is too narrow (analysis.confidence) and a verdict is only indicative."""
    from analysis.confidence import SMALL_TOP
    from analysis.top import top_count

    smallest = int(top_count(df.groupby(factor, observed=True).size().min(), fraction))
    return (f"; the smallest level's top holds {smallest} trial{'s' if smallest > 1 else ''}, under {SMALL_TOP}: "
            f"intervals too narrow, verdicts indicative only" if smallest < SMALL_TOP else "")
