"""Analysis speed on a synthetic results table of 1,000,000 rows (100,000 trials x 10
evaluations, 24 models, grid and BO phases), written as Parquet like a study writes it.

Timed: ``analysis.load`` (final row per trial) + ``top_fraction`` (per loss x d_norm and per
model) + ``budget_curves`` (per model and phase, k = 1..100, exact expectation and band); then,
apart (``intervals_s``), the 95% bootstrap intervals of the top-5% medians (2,000 resamples) and
the pairwise tables per model, per loss, d_norm and penalty, and per loss x d_norm.
Baseline, in the same run: pandas.read_parquet, then groupby-apply with a Python function per
group: nsmallest for the top 5%, and a bootstrap of 2,000 resamples per k for the budget curves;
and a plain bootstrap of one model's top-5% median (2,000 resamples of its trials, each sorted),
whose interval must agree with ours within the resampling noise.

    python benchmarks/analysis_speed.py [--rows 1000000]
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import analysis
from study.engine.schema import SCHEMA
from study.gan.config import TrialConfig

KS = np.arange(1, 101)
INTERVAL_GROUPS = ("model", "loss", "d_norm", "penalty", ("loss", "d_norm"))


def synthetic(root: Path, rows: int, evals: int = 10, files: int = 20, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    trials = rows // evals
    models = [(l, n, p) for l in ("ns", "wgan", "hinge", "ls_sigmoid") for n in ("none", "bn", "sn")
              for p in ("none", "gp")]
    m = rng.integers(0, len(models), trials)
    phase = np.where(rng.random(trials) < 0.3, "grid", "bo")
    quality = rng.gamma(2.0, 30.0, trials) + 20
    status = np.where(rng.random(trials) < 0.05, "diverged", "ok")
    defaults = TrialConfig().to_dict()
    t_idx = np.repeat(np.arange(trials), evals)
    step = np.tile(np.arange(1, evals + 1) * 1000, trials)
    fid = quality[t_idx] * (1 + 2.0 / np.tile(np.arange(1, evals + 1), trials)) + rng.normal(0, 1, len(t_idx))
    fid[(status[t_idx] == "diverged") & (step == evals * 1000)] = np.nan
    cols = {
        "study": np.full(len(t_idx), "bench"), "phase": phase[t_idx],
        "bo_round": np.where(phase[t_idx] == "bo", t_idx % 12, -1),
        "model": np.array([f"loss={a},d_norm={b},penalty={c}" for a, b, c in models])[m[t_idx]],
        "trial_key": np.char.add("k", t_idx.astype(str)),
        "loss": np.array([a for a, _, _ in models])[m[t_idx]], "d_norm": np.array([b for _, b, _ in models])[m[t_idx]],
        "penalty": np.array([c for _, _, c in models])[m[t_idx]],
        "lr": 10 ** rng.uniform(-5, -2, trials)[t_idx], "step": step, "fid": fid, "is_final": step == evals * 1000,
        "status": status[t_idx],
    }
    df = pd.DataFrame(cols)
    df["bo_round"] = df["bo_round"].where(df["bo_round"] >= 0)
    for name in SCHEMA.names:
        if name not in df:
            df[name] = defaults.get(name)
    root.mkdir(parents=True)
    table = pa.Table.from_pandas(df[SCHEMA.names], schema=SCHEMA, preserve_index=False)
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), files)):
        pq.write_table(table.take(chunk), root / f"part-{i:03d}.parquet")


def ours(path: Path) -> tuple[float, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    t = time.perf_counter()
    df = analysis.load(str(path))
    top = analysis.top_fraction(df, ["loss", "d_norm"])
    analysis.top_fraction(df, "model")
    curves = analysis.budget_curves(df, by=["model", "phase"], ks=KS)
    return time.perf_counter() - t, top, curves, df


def intervals(df: pd.DataFrame) -> tuple[float, dict]:
    """The intervals and pairwise tables of every top-5% table; checks each interval holds its median."""
    t = time.perf_counter()
    tables = {}
    for by in INTERVAL_GROUPS:
        boot = analysis.top_bootstrap(df, list(by) if isinstance(by, tuple) else by)
        tables[by] = (analysis.top_intervals(boot), analysis.pairwise(boot))
    elapsed = time.perf_counter() - t
    for ci, _ in tables.values():
        assert ((ci["median_low"] <= ci["median"]) & (ci["median"] <= ci["median_high"])).all()
    return elapsed, tables


def plain_interval(df: pd.DataFrame, model: str, resamples: int = 2000) -> tuple[float, np.ndarray]:
    """One model's interval by brute force: resample its n trials, sort each resample (NaN last),
    take the median of the k lowest finite values."""
    t = time.perf_counter()
    v = df.loc[df["model"].astype(str) == model, "fid"].to_numpy(dtype=float)
    k = max(1, math.ceil(0.05 * len(v)))
    draws = np.sort(v[np.random.default_rng(1).integers(0, len(v), size=(resamples, len(v)))], axis=1)[:, :k]
    stats = np.nanmedian(draws, axis=1)
    return time.perf_counter() - t, np.quantile(stats, [0.025, 0.975], method="inverted_cdf")


def naive(path: Path, resamples: int = 2000) -> tuple[float, pd.DataFrame, pd.DataFrame]:
    t = time.perf_counter()
    rows = pd.read_parquet(path)
    df = rows[rows["is_final"]].drop_duplicates("trial_key", keep="last")
    top_k = lambda g: g.nsmallest(max(1, math.ceil(0.05 * len(g))), "fid")  # noqa: E731
    top = df.groupby(["loss", "d_norm"], group_keys=False).apply(top_k)
    df.groupby("model", group_keys=False).apply(top_k)
    rng = np.random.default_rng(0)

    def bootstrap(g: pd.DataFrame) -> pd.DataFrame:
        v = g["fid"].dropna().to_numpy()
        means = [rng.choice(v, size=(resamples, k)).min(axis=1).mean() for k in KS]
        return pd.DataFrame({"k": KS, "expected_min": means})

    curves = df.groupby(["model", "phase"]).apply(bootstrap).reset_index()
    return time.perf_counter() - t, top, curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results"
        t = time.perf_counter()
        synthetic(root, args.rows)
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - t:.1f}s", flush=True)
        ours_s, top, curves, df = ours(root)
        intervals_s, tables = intervals(df)
        naive_s, naive_top, naive_curves = naive(root)
        model = str(tables["model"][0].index[0])
        plain_s, plain = plain_interval(df, model)
    # same answers: the same top-5% FIDs; budget curves equal within the bootstrap's noise
    assert sorted(top["fid"].round(9)) == sorted(naive_top["fid"].round(9))
    merged = curves.merge(naive_curves, on=["model", "phase", "k"], suffixes=("", "_bootstrap"))
    worst = float((merged["expected_min"] / merged["expected_min_bootstrap"] - 1).abs().max())
    ci = tables["model"][0].loc[model, ["median_low", "median_high"]].to_numpy(dtype=float)
    ci_diff = float(np.abs(ci / plain - 1).max())
    print(f"ours {ours_s:.2f}s + intervals {intervals_s:.2f}s, naive groupby-apply {naive_s:.2f}s; budget curves "
          f"agree within {worst:.2%}; one model's interval {ci.round(3)} vs plain bootstrap {plain.round(3)} "
          f"({plain_s:.2f}s for that one model)")
    print(json.dumps({"rows": args.rows, "analysis_s": round(ours_s, 3), "intervals_s": round(intervals_s, 3),
                      "total_s": round(ours_s + intervals_s, 3), "naive_s": round(naive_s, 3),
                      "speedup": round(naive_s / ours_s, 2), "budget_max_rel_diff_vs_bootstrap": round(worst, 4),
                      "plain_bootstrap_one_model_s": round(plain_s, 3),
                      "interval_max_rel_diff_vs_plain_bootstrap": round(ci_diff, 4)}))


if __name__ == "__main__":
    main()
