"""Is a study's conclusion stable across seeds? The top-k% FID per model, computed separately for
each trial seed, the ranking of the models under each seed, and how well those rankings agree
(Kendall's tau between every pair of seeds: 1 is the same order, 0 no relation).

A study that runs its grid under several seeds (``grid.seeds: [0, 1, 2]``) answers the question
without re-running anything: ``python -m analysis.seeds STUDY_DIR [--by d_norm penalty]``.
"""
from __future__ import annotations

import argparse
import itertools
from typing import Sequence

import pandas as pd
from scipy.stats import kendalltau

from analysis.load import load
from analysis.top import top_fraction


def seed_table(df: pd.DataFrame, by: Sequence[str], fraction: float = 0.05, metric: str = "fid",
               seed: str = "seed") -> pd.DataFrame:
    """Rows: the groups of ``by``; columns: per seed, the median ``metric`` of the group's top
    ``fraction`` of trials under that seed, then the mean over seeds; sorted by that mean."""
    by = list(by)
    per_seed = {}
    for s, rows in df.groupby(seed, sort=True):
        top = top_fraction(rows, by, fraction, metric)
        per_seed[f"{seed} {s}"] = top.groupby(by, observed=True)[metric].median()
    table = pd.DataFrame(per_seed)
    table["mean"] = table.mean(axis=1)
    return table.sort_values("mean")


def rank_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau between the model rankings of every pair of seed columns of ``seed_table``."""
    seeds = [c for c in table.columns if c != "mean"]
    rows = []
    for a, b in itertools.combinations(seeds, 2):
        both = table[[a, b]].dropna()
        tau = kendalltau(both[a], both[b]).statistic if len(both) > 1 else float("nan")
        rows.append({"seeds": f"{a} vs {b}", "kendall_tau": tau, "models": len(both)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.seeds", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="a study directory or its results/ folder")
    parser.add_argument("--by", nargs="+", default=["d_norm", "penalty"], help="the factors that make a model")
    parser.add_argument("--fraction", type=float, default=0.05)
    args = parser.parse_args(argv)
    df = load(args.results)
    table = seed_table(df, args.by, args.fraction)
    print(f"median FID of the top {args.fraction:.0%} trials per model and seed (lower is better):\n")
    print(table.to_markdown(floatfmt=".1f") if _has_tabulate() else table.round(1).to_string())
    print()
    print(rank_agreement(table).to_string(index=False, float_format="{:.2f}".format))
    return 0


def _has_tabulate() -> bool:
    import importlib.util

    return importlib.util.find_spec("tabulate") is not None


if __name__ == "__main__":
    raise SystemExit(main())
