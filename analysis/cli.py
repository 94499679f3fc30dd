"""``gan-study analyze RESULTS``: top-5% tables per loss and per normalizer, and a box plot."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from analysis.confidence import interval_note, summarize_with_interval, top_bootstrap, top_intervals
from analysis.load import STOPPED_ATTR, load, model_factors
from analysis.plots import top_boxplot
from analysis.top import top_fraction

# Config columns shown as factors when they vary (issue 14 added the tricks).
CANDIDATES = ("loss", "penalty", "d_norm", "architecture", "g_norm", "arch_options", "d_minibatch",
              "feature_matching", "historical_averaging", "label_smoothing", "label_noise", "label_flip",
              "g_dropout", "conditional")


def analyze(results: str, out: str | None = None, fraction: float = 0.05) -> int:
    df = load(results)
    if df.empty:  # as report: one line, exit 2
        print(f"gan-study: error: results: no finished trials under {results}; nothing to analyze yet "
              f"(gan-study status shows what is left)", file=sys.stderr)
        return 2
    root = Path(results)
    root = root.parent if root.name == "results" else root
    out_dir = Path(out) if out else root / "analysis"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as e:
        print(f"gan-study: error: analysis output: cannot write to {out_dir} ({e.strerror}); "
              f"the study directory may be read-only: pass --out DIR")
        return 2
    everything = load(results, stopped=True)
    counts = everything.groupby(["phase", "status"]).size().unstack(fill_value=0)
    pct = f"{fraction:.0%}"
    with pd.option_context("display.width", 140, "display.float_format", "{:.2f}".format):
        print(f"trials by phase and status:\n{counts}\n")
        if df.attrs.get(STOPPED_ATTR):
            print(f"{df.attrs[STOPPED_ATTR]} trials stopped early are left out of the tables below (their FID is "
                  f"from before the end of training)\n")
        named = [c for c in model_factors(df) if c not in CANDIDATES]  # factors of named settings first
        factors = [c for c in (*named, *CANDIDATES) if c in df.columns and df[c].nunique() > 1] or ["loss"]
        print(f"{interval_note()}\n")
        for f in factors + ["model"]:
            print(f"FID of the top {pct} trials per {f}:\n{summarize_with_interval(df, f, fraction)}\n")
    x, hue = (factors + ["d_norm"])[:2] if len(factors) >= 2 else (factors[0], "d_norm")
    plot = out_dir / "top5_fid.png"
    top_boxplot(top_fraction(df, [x, hue], fraction), x=x, hue=hue, path=plot,
                intervals=top_intervals(top_bootstrap(df, [x, hue], fraction)))
    print(f"results (Parquet): {root / 'results'}\nplot: {plot}")
    return 0
