"""Plots of the comparisons (matplotlib, Agg backend: no display needed). Every function
returns the Figure, so that callers (and tests) can inspect axes, labels and groups, and saves
it to ``path`` when given (format from the suffix: .png, .svg, .pdf)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.sensitivity import LOG_SCALE, best_per_group, varying  # noqa: E402

CMAP = plt.get_cmap("tab10")


def _save(fig: plt.Figure, path: str | Path | None) -> plt.Figure:
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _values(s: pd.Series) -> list:
    return sorted(s.dropna().astype("object").unique().tolist(), key=str)


def _boxes(ax: plt.Axes, top: pd.DataFrame, x: str, hue: str, metric: str, xs: list, hues: list) -> None:
    width = 0.8 / max(1, len(hues))
    for j, h in enumerate(hues):
        color = CMAP(j % 10)
        data = [top[(top[x].astype("object") == v) & (top[hue].astype("object") == h)][metric].dropna().to_numpy()
                for v in xs]
        pos = [i + (j - (len(hues) - 1) / 2) * width for i in range(len(xs))]
        keep = [(p, d) for p, d in zip(pos, data) if len(d)]
        if not keep:
            continue
        bp = ax.boxplot([d for _, d in keep], positions=[p for p, _ in keep], widths=width * 0.9,
                        patch_artist=True, manage_ticks=False, showfliers=False,
                        medianprops={"color": "black"})
        for box in bp["boxes"]:
            box.set_facecolor(color)
            box.set_alpha(0.35)
        # the points themselves, so that groups of one or two trials stay visible
        ax.scatter([p for p, d in keep for _ in d], [v for _, d in keep for v in d], color=color, s=18, zorder=3,
                   label=f"{hue}={h}")
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([str(v) for v in xs])
    ax.set_xlabel(x)


def _interval_bars(ax: plt.Axes, intervals: pd.DataFrame, x: str, hue: str, xs: list, hues: list,
                   label: str | None) -> None:
    """A black bar with caps over each box, from median_low to median_high of its row of
    ``intervals`` (an unbounded end reaches the top of the axis, marked by a triangle)."""
    width = 0.8 / max(1, len(hues))
    rows = [(i + (j - (len(hues) - 1) / 2) * width, r) for r in intervals.itertuples(index=False)
            for i, v in enumerate(xs) for j, h in enumerate(hues)
            if str(getattr(r, x)) == str(v) and str(getattr(r, hue)) == str(h) and np.isfinite(r.median)]
    if not rows:
        return
    pos = np.array([p for p, _ in rows])
    low, mid, high = (np.array([getattr(r, c) for _, r in rows], dtype=float)
                      for c in ("median_low", "median", "median_high"))
    open_end = ~np.isfinite(high)
    top = max([ax.get_ylim()[1], mid.max(), *high[~open_end]])
    high = np.where(open_end, top, high)
    ax.errorbar(pos, mid, yerr=[mid - low, high - mid], fmt="none", ecolor="black", elinewidth=1.2, capsize=3,
                zorder=4, label=label)
    if open_end.any():
        ax.scatter(pos[open_end], high[open_end], marker="^", color="black", s=20, zorder=4)


def top_boxplot(top: pd.DataFrame, x: str = "loss", hue: str = "d_norm", metric: str = "fid",
                facet: str | None = None, path: str | Path | None = None, title: str | None = None,
                intervals: pd.DataFrame | None = None) -> plt.Figure:
    """Box plots of the top trials' FIDs, one group of boxes per ``x`` value and one box per
    ``hue`` value within it, one panel per ``facet`` value (Kurach et al. 2019, Figures 1-4).
    ``intervals`` (``analysis.top_intervals`` grouped by x, hue and facet) adds a bar over each
    box: the interval of its median."""
    panels = _values(top[facet]) if facet else [None]
    xs, hues = _values(top[x]), _values(top[hue])
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.0, 1.2 * len(xs) * max(1, len(hues)) ** 0.5 + 2)
                                                      * len(panels) ** 0.8, 4.2), squeeze=False, sharey=True)
    bars = intervals.reset_index() if intervals is not None else None
    label = f"{intervals.attrs.get('level', 0.95):.0%} interval of the median" if intervals is not None else None
    for ax, panel in zip(axes[0], panels):
        data = top if panel is None else top[top[facet].astype("object") == panel]
        _boxes(ax, data, x, hue, metric, xs, hues)
        if bars is not None:
            mine = bars if panel is None else bars[bars[facet].astype("object") == panel]
            _interval_bars(ax, mine, x, hue, xs, hues, label if ax is axes[0][-1] else None)
        if panel is not None:
            ax.set_title(f"{facet}={panel}")
    values = top[metric].dropna()
    if len(values) and values.min() > 0 and values.max() / values.min() > 20:
        axes[0][0].set_yscale("log")
    axes[0][0].set_ylabel(f"{metric.upper()} of the top trials")
    axes[0][-1].legend(loc="best", fontsize="small")
    fig.suptitle(title or f"{metric.upper()} of the top trials per {x} and {hue}" + (f", by {facet}" if facet else ""))
    fig.tight_layout()
    return _save(fig, path)


def budget_plot(curves: pd.DataFrame, group: str = "model", style: str | None = "phase",
                path: str | Path | None = None, metric: str = "fid") -> plt.Figure:
    """Expected minimum FID against the number of settings tried, with the quantile band:
    one colour per ``group``, one line style per ``style`` (grid solid, BO dashed)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = _line_styles(_values(curves[style]) if style else [None])
    for j, g in enumerate(_values(curves[group])):
        for s, ls in styles.items():
            c = curves[(curves[group].astype("object") == g)]
            if s is not None:
                c = c[c[style].astype("object") == s]
            if c.empty:
                continue
            label = f"{g}" + (f" ({s})" if s is not None else "")
            ax.plot(c["k"], c["expected_min"], ls, color=CMAP(j % 10), label=label)
            ax.fill_between(c["k"], c["low"], c["high"], color=CMAP(j % 10), alpha=0.12)
    ax.set_xlabel("number of hyperparameter settings (budget)")
    ax.set_ylabel(f"expected minimum {metric.upper()}")
    ax.set_title(f"{metric.upper()} as a function of the search budget")
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return _save(fig, path)


PHASE_STYLES = {"grid": "-", "bo": "--", "seeds": ":"}


def _line_styles(values: list) -> dict:
    """Line style per value: the phases as the captions say (grid solid, BO dashed), others after."""
    spare = iter(ls for ls in ["-", "--", ":", "-."] if ls not in {PHASE_STYLES.get(v) for v in values})
    return {v: PHASE_STYLES.get(v) or next(spare, "-") for v in values}


def budget_panels(curves: pd.DataFrame, group: str = "model", style: str | None = "phase",
                  path: str | Path | None = None, metric: str = "fid", max_cols: int = 6) -> plt.Figure:
    """The budget curves as small multiples: one small panel per ``group`` value (sharing both
    axes, so panels compare at a glance), one line style per ``style`` value (grid solid, BO
    dashed) with its 5-95% band, and one legend for the styles. Readable at 12 models and at 60
    (a 6-column grid of 2.1 x 1.6 inch panels), where one crowded axis is not."""
    groups = _values(curves[group])
    cols = max(1, min(max_cols, int(np.ceil(np.sqrt(len(groups))))))
    rows = int(np.ceil(len(groups) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols + 0.6, 1.6 * rows + 0.9), squeeze=False,
                             sharex=True, sharey=True)
    styles = _line_styles(_values(curves[style]) if style else [None])
    colors = {s: CMAP(i % 10) for i, s in enumerate(styles)}
    for ax, g in zip(axes.flat, groups):
        mine = curves[curves[group].astype("object") == g]
        for s, ls in styles.items():
            c = mine if s is None else mine[mine[style].astype("object") == s]
            if c.empty:
                continue
            ax.plot(c["k"], c["expected_min"], ls, color=colors[s], lw=1.2, label=str(s) if s is not None else None)
            ax.fill_between(c["k"], c["low"], c["high"], color=colors[s], alpha=0.15, lw=0)
        ax.set_title(str(g), fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    values = curves["expected_min"].dropna()
    if len(values) and values.min() > 0 and values.max() / values.min() > 20:
        axes[0][0].set_yscale("log")
    fig.supxlabel("number of hyperparameter settings (budget)", fontsize=8)
    fig.supylabel(f"expected minimum {metric.upper()}", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="upper right", fontsize=7, ncol=len(labels), frameon=False)
    fig.suptitle(f"{metric.upper()} as a function of the search budget, per {group}", fontsize=9, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _save(fig, path)


def sensitivity_plot(df: pd.DataFrame, group: str = "model", params: Sequence[str] | None = None,
                     metric: str = "fid", path: str | Path | None = None) -> plt.Figure:
    """FID against each hyperparameter that varies (lr and lambda on log axes), one colour per
    ``group``, each group's best trial marked with a star."""
    params = list(params) if params is not None else varying(df)
    if not params:
        raise ValueError("params: no hyperparameter varies in these trials")
    fig, axes = plt.subplots(1, len(params), figsize=(3.6 * len(params), 3.8), squeeze=False, sharey=True)
    ok = df[np.isfinite(df[metric].to_numpy(dtype=float))]
    best = best_per_group(df, group, metric)
    groups = _values(ok[group])
    for ax, p in zip(axes[0], params):
        for j, g in enumerate(groups):
            sel = ok[ok[group].astype("object") == g]
            ax.scatter(sel[p], sel[metric], s=14, alpha=0.7, color=CMAP(j % 10), label=str(g))
            b = best[best[group].astype("object") == g]
            ax.scatter(b[p], b[metric], marker="*", s=160, color=CMAP(j % 10), edgecolor="black", zorder=4)
        if p in LOG_SCALE:
            ax.set_xscale("log")
        ax.set_xlabel(p)
    axes[0][0].set_ylabel(metric.upper())
    if len(ok) and ok[metric].min() > 0 and ok[metric].max() / ok[metric].min() > 20:
        axes[0][0].set_yscale("log")
    axes[0][-1].legend(fontsize="x-small")
    fig.suptitle(f"{metric.upper()} against each hyperparameter (stars: best per {group})")
    fig.tight_layout()
    return _save(fig, path)
