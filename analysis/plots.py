"""Plots of the comparisons (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def top_boxplot(top: pd.DataFrame, x: str = "loss", hue: str = "d_norm", metric: str = "fid",
                path: str | Path | None = None, title: str | None = None) -> plt.Figure:
    """Box plots of the top trials' FIDs: one group of boxes per ``x`` value, one box per
    ``hue`` value within it (Kurach et al. 2019, Figure 1). Saved to ``path`` when given."""
    xs = sorted(top[x].dropna().unique().tolist())
    hues = sorted(top[hue].dropna().unique().tolist())
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(xs) * max(1, len(hues)) ** 0.5 + 2), 4))
    width = 0.8 / max(1, len(hues))
    cmap = plt.get_cmap("tab10")
    for j, h in enumerate(hues):
        data = [top[(top[x] == v) & (top[hue] == h)][metric].dropna().to_numpy() for v in xs]
        pos = [i + (j - (len(hues) - 1) / 2) * width for i in range(len(xs))]
        keep = [(p, d) for p, d in zip(pos, data) if len(d)]
        if not keep:
            continue
        color = cmap(j % 10)
        bp = ax.boxplot([d for _, d in keep], positions=[p for p, _ in keep], widths=width * 0.9,
                        patch_artist=True, manage_ticks=False, showfliers=False,
                        medianprops={"color": "black"})
        for box in bp["boxes"]:
            box.set_facecolor(color)
            box.set_alpha(0.35)
        # the points themselves, so that groups of one or two trials stay visible
        px = [p for p, d in keep for _ in d]
        py = [v for _, d in keep for v in d]
        ax.scatter(px, py, color=color, s=18, zorder=3, label=f"{hue}={h}")
    values = top[metric].dropna()
    if len(values) and values.min() > 0 and values.max() / values.min() > 20:
        ax.set_yscale("log")
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([str(v) for v in xs])
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric.upper()} (top trials)")
    ax.set_title(title or f"{metric.upper()} of the top trials per {x} and {hue}")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
