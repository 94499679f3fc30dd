"""Analysis of a study's results: Parquet rows -> pandas tables and matplotlib plots.

Reads only the Parquet dataset a study wrote; knows nothing of Ray, Optuna or the trials.

    import analysis
    df = analysis.load("results/demo")                        # one row per trial (final evaluation)
    top = analysis.top_fraction(df, by=["loss", "d_norm"])    # the best 5% per group
    analysis.summarize(top, by="loss")                        # min / median / max FID of the top 5%
    boot = analysis.top_bootstrap(df, by="loss")              # resampled top-5% medians (intervals, pairs)
    analysis.top_intervals(boot)                              # median with its 95% percentile interval
    analysis.pairwise(boot)                                   # P(a < b), Holm-adjusted p, verdict
    analysis.top_boxplot(top, x="loss", hue="d_norm", path="top5.png")
    curves = analysis.budget_curves(df)                       # expected min FID vs budget
    analysis.budget_plot(curves, path="budget.png")
"""
from analysis.budget import budget_curves, min_distribution
from analysis.confidence import (
    TopBootstrap,
    holm,
    order_statistic_cdf,
    pairwise,
    summarize_with_interval,
    top_bootstrap,
    top_intervals,
    top_seed_spread,
)
from analysis.load import load, load_rows, select_trials
from analysis.paper import paper_comparison
from analysis.plots import budget_panels, budget_plot, sensitivity_plot, top_boxplot
from analysis.rescored import load_rescored, with_rescores
from analysis.sensitivity import best_per_group, seed_spread, varying
from analysis.top import outcome_counts, outcome_fractions, summarize, top_fraction

__all__ = ["load", "load_rows", "select_trials", "top_fraction", "summarize", "outcome_fractions", "outcome_counts",
           "budget_curves", "min_distribution", "best_per_group", "seed_spread", "varying",
           "top_boxplot", "budget_plot", "budget_panels", "sensitivity_plot", "paper_comparison",
           "load_rescored", "with_rescores", "TopBootstrap", "top_bootstrap", "top_intervals",
           "summarize_with_interval", "pairwise", "holm", "top_seed_spread", "order_statistic_cdf"]
