"""Analysis of a study's results: Parquet rows -> pandas tables and matplotlib plots.

Reads only the Parquet dataset a study wrote; knows nothing of Ray, Optuna or the trials.

    import analysis
    df = analysis.load("results/demo")                  # one row per trial (final evaluation)
    top = analysis.top_fraction(df, by=["loss", "d_norm"])  # the best 5% per group
    analysis.summarize(top, by=["loss"])                 # min / median / max FID of the top 5%
    analysis.top_boxplot(top, x="loss", hue="d_norm", path="top5.png")
"""
from analysis.load import load, load_rows
from analysis.plots import top_boxplot
from analysis.top import summarize, top_fraction

__all__ = ["load", "load_rows", "top_fraction", "summarize", "top_boxplot"]
