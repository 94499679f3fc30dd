"""``gan-study report RESULTS -o DIR``: an HTML page with the tables and plots (PNG, SVG and PDF),
a Markdown summary and the tables as LaTeX (booktabs) to paste into a paper, and each model's
best sample grid beside its FID."""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis.agreement import agreement_tables
from analysis.budget import budget_curves
from analysis.confidence import (
    LEVEL,
    interval_note,
    pairwise,
    pairwise_note,
    summarize_with_interval,
    top_bootstrap,
    top_intervals,
    top_seed_spread,
)
from analysis.load import STOPPED_ATTR, load
from analysis.paper import paper_comparison, paper_conclusions
from analysis.plots import budget_panels, sensitivity_plot, top_boxplot
from analysis.rescored import load_rescored, with_rescores
from analysis.sensitivity import best_per_group, varying
from analysis.top import outcome_counts, top_fraction
from analysis.versions import read_index, trials_per_version

FACTORS = ("loss", "penalty", "d_norm", "g_norm", "architecture", "dataset", "g_head")
BEST_COLUMNS = ("model", "phase", "lr", "beta1", "beta2", "n_dis", "penalty_lambda", "seed", "fid")
PAIRWISE_MAX_MODELS = 8  # the pairwise table per model up to 8 models (28 pairs); per factor always


@dataclass(frozen=True)
class Report:
    html: Path
    markdown: Path
    figures: tuple[Path, ...]
    latex: Path | None = None


def markdown_table(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    df = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    cells = [[floatfmt.format(v) if isinstance(v, float) else str(v) for v in row]
             for row in df.itertuples(index=False)]
    head = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(c, c) for c in text)


def latex_table(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """A booktabs tabular (numbers right-aligned, text left) of ``df``, index as columns."""
    df = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    cell = lambda v: floatfmt.format(v) if isinstance(v, float) else latex_escape(str(v))  # noqa: E731
    lines = [f"\\begin{{tabular}}{{{align}}}", "\\toprule",
             " & ".join(latex_escape(str(c)) for c in df.columns) + r" \\", "\\midrule"]
    lines += [" & ".join(cell(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    return "\n".join(lines + ["\\bottomrule", "\\end{tabular}"])


class NoFinishedTrials(ValueError, RuntimeError):
    """Nothing to report yet. A RuntimeError, so that ``gan-study report`` prints it as one line
    and exits 2 (as ``analyze`` refuses it); a ValueError, as callers of ``build_report`` caught before."""


def build_report(results: str, out_dir: str | Path, fraction: float = 0.05) -> Report:
    df = load(results)
    if df.empty:
        raise NoFinishedTrials(f"results: no finished trials under {results}; nothing to report yet "
                          f"(gan-study status shows what is left)")
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    pct = f"{fraction:.0%}"
    factors = [f for f in FACTORS if f in df and df[f].nunique() > 1] or ["model"]
    everything = load(results, stopped=True)
    tables: list[tuple[str, pd.DataFrame]] = [
        ("Trials by phase and status",
         everything.groupby(["phase", "status"], observed=True).size().unstack(fill_value=0)),
    ]
    index = read_index(results)
    if len(index) > 1:  # a study that grew: which version of its file ran which trials
        tables.append(("Finished trials per version of the study file", trials_per_version(everything, index)))
    tables += _top_tables(df, factors + (["model"] if "model" not in factors else []), fraction)
    tables.append(("Outcomes per model (trials)", outcome_counts(everything, "model")))
    best = best_per_group(df, "model")
    tables.append(("Best trial per model", best[[c for c in BEST_COLUMNS if c in best]].set_index("model")))
    tables += _paper_and_agreement(results, df, factors, fraction)

    figures: list[tuple[str, Path]] = []

    def figure(name: str, title: str, fig: plt.Figure) -> None:
        for suffix in (".png", ".svg", ".pdf"):
            fig.savefig(out / "figures" / f"{name}{suffix}", dpi=120)
        plt.close(fig)
        figures.append((title, out / "figures" / f"{name}.png"))

    figure("top_fid", f"FID of the top {pct} of trials (bars: the {LEVEL:.0%} bootstrap interval of each box's median)",
           _top_figure(df, factors, fraction))
    curves = budget_curves(df, by=["model", "phase"])
    if not curves.empty:
        figure("budget", "Expected minimum FID against the search budget, one panel per model "
                         "(5-95% band; grid and BO apart)", budget_panels(curves))
    if varying(df):
        figure("sensitivity", "FID against each hyperparameter", sensitivity_plot(df))

    studies = ", ".join(map(str, df["study"].astype("object").unique()))
    stopped = df.attrs.get(STOPPED_ATTR, 0)
    stopped_note = (f" {stopped} trials stopped early are left out of the top-{pct} tables and the budget curves "
                    f"(their FID is from before the end of training)." if stopped else "")
    md = [f"# Study {studies}: summary", "", f"{len(df)} trials. FID: {_fid_note(df)}{stopped_note}", ""]
    for title, t in tables:
        md += [f"## {title}", "", markdown_table(t), ""]
    for title, path in figures:
        md += [f"![{title}](figures/{path.name})", ""]
    md_path = out / "summary.md"
    md_path.write_text("\n".join(md))
    tex = [f"% Study {studies}: tables for a paper (booktabs)"]
    for title, t in tables:
        tex += ["", f"% {title}", latex_table(t)]
    (out / "tables.tex").write_text("\n".join(tex) + "\n")

    grids = _best_grids(results, best, out)
    if grids:
        md += ["## Samples of the best trial per model", ""]
        md += [f"![{html.escape(m)}: FID {fid:.4g}](figures/samples/{p.name})" for m, fid, p in grids] + [""]
        md_path.write_text("\n".join(md))
    body = [f"<h1>Study {html.escape(studies)}</h1>",
            f"<p>{len(df)} trials. FID: {html.escape(_fid_note(df) + stopped_note)}</p>"]
    for title, t in tables:
        body += [f"<h2>{html.escape(title)}</h2>", t.to_html(float_format=lambda v: f"{v:.4g}", border=0)]
    for title, path in figures:
        svg = path.with_suffix(".svg").name
        body += [f"<h2>{html.escape(title)}</h2>",
                 f'<figure><img src="figures/{path.name}" alt="{html.escape(title)}">'
                 f'<figcaption><a href="figures/{svg}">SVG</a> <a href="figures/{path.with_suffix(".pdf").name}">'
                 f'PDF</a></figcaption></figure>']
    if grids:
        body += ["<h2>Samples of the best trial per model (the same latents for every trial)</h2>",
                 '<div style="display:flex;flex-wrap:wrap;gap:1em">']
        body += [f'<figure><img src="figures/samples/{p.name}" alt="{html.escape(m)}" style="image-rendering:pixelated;'
                 f'width:200px"><figcaption>{html.escape(m)}<br>FID {fid:.4g}</figcaption></figure>'
                 for m, fid, p in grids] + ["</div>"]
    html_path = out / "index.html"
    html_path.write_text(PAGE.format(title=html.escape(f"Study {studies}"), body="\n".join(body)))
    return Report(html_path, md_path, tuple(p for _, p in figures), out / "tables.tex")


def _top_tables(df: pd.DataFrame, groups: list[str], fraction: float) -> list[tuple[str, pd.DataFrame]]:
    """Per factor (and model): the top-k% summary with the bootstrap interval of its median and
    the pairwise comparisons (per model up to PAIRWISE_MAX_MODELS models); then, when trials ran
    under several seeds, the spread of that median between seeds against the bootstrap's."""
    pct, tables = f"{fraction:.0%}", []
    for f in groups:
        boot = top_bootstrap(df, f, fraction)
        tables.append((f"FID of the top {pct} of trials per {f} ({interval_note(min_top=int(boot.top.min()))})",
                       summarize_with_interval(df, f, fraction, boot=boot)))
        pairs = pairwise(boot) if f != "model" or len(boot.index) <= PAIRWISE_MAX_MODELS else pd.DataFrame()
        if len(pairs):
            tables.append((f"Which {f} has the lower median FID of its top {pct}? {pairwise_note(pairs)}", pairs))
    seeds = top_seed_spread(df, ["phase", "model"], fraction)
    if len(seeds):
        tables.append((f"Median FID of the top {pct} per model under each seed: between_sd, its standard deviation "
                       f"across seeds; within_se, the mean over seeds of its bootstrap standard error; ratio above 1: "
                       f"another seed moves it more than the intervals allow for", seeds))
    return tables


def _top_figure(df: pd.DataFrame, factors: list[str], fraction: float) -> plt.Figure:
    """The box plot of the top trials per the first factor (x), the second (hue) and the third
    (one panel each), with the bootstrap interval of each box's median."""
    x = factors[0]
    hue = factors[1] if len(factors) > 1 else ("d_norm" if x != "d_norm" else "loss")
    facet = factors[2] if len(factors) > 2 else None
    by = [c for c in (x, hue, facet) if c]
    return top_boxplot(top_fraction(df, by, fraction), x=x, hue=hue, facet=facet,
                       intervals=top_intervals(top_bootstrap(df, by, fraction)))


def _paper_and_agreement(results: str, df: pd.DataFrame, factors: list[str],
                         fraction: float) -> list[tuple[str, pd.DataFrame]]:
    """The paper's FIDs beside ours, then whether the metrics agree: every metric the study and
    ``gan-study rescore`` computed (analysis.agreement), with the paper's testable conclusions. The
    study's metrics are read at each trial's best evaluation, the checkpoint rescore scores."""
    published = paper_comparison(df)
    tables = [("The paper's FID and ours", published)] if not published.empty else []
    # Each trial's best evaluation: the checkpoint its kept generator holds, which rescore scored.
    scored = with_rescores(load(results, which="best"), load_rescored(results))
    return tables + agreement_tables(scored, factors, fraction, paper_conclusions(df),
                                     rows="each trial at its best evaluation, the checkpoint rescore scores")


def _best_grids(results: str, best: pd.DataFrame, out: Path) -> list[tuple[str, float, Path]]:
    """(model, FID, copied PNG) of each model's best trial whose sample grid the study kept
    (``<study>/samples/<trial_key>/final.png``, the grid of the evaluation the FID is from)."""
    root = Path(results)
    root = root.parent if root.name == "results" else root
    grids = []
    for i, row in enumerate(best.itertuples(index=False)):
        src = root / "samples" / str(row.trial_key) / "final.png"
        if src.is_file():
            dst = out / "figures" / "samples" / f"model-{i:03d}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
            grids.append((str(row.model), float(row.fid), dst))
    return grids


def _fid_note(df: pd.DataFrame) -> str:
    parts = []
    for (ex, n, split), _ in df.groupby(["feature_extractor", "fid_samples", "fid_split"], observed=True):
        parts.append(f"{ex} features, {n} samples, {split} split")
    return "; ".join(parts) + "; the final evaluation of each trial."


# The onload script records how many images decoded, so a headless browser can check the page.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{padding:2px 8px;text-align:right}} tr:nth-child(even){{background:#f4f4f4}} img{{max-width:100%}}</style>
</head><body>
{body}
<script>
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images", imgs.length);
  document.body.setAttribute("data-images-loaded", ok);
}});
</script>
</body></html>
"""
