"""Plots (inspected as figure objects), sensitivity tables and the HTML report, opened in a
real headless Chromium where one is installed."""
import datetime as dt
import shutil
import subprocess

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.report import build_report, markdown_table
from study.engine.store import ResultsStore
from study.gan.config import TrialConfig


def synthetic_study(path, seed=0):
    """Two losses x two normalizers, 12 grid trials (two seeds of six settings) and 8 BO trials
    each; one diverged trial per model."""
    rng = np.random.default_rng(seed)
    store = ResultsStore(str(path))
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    i = 0
    for loss, d_norm in [("ns", "sn"), ("ns", "bn"), ("wgan", "sn"), ("wgan", "bn")]:
        base = 20.0 if d_norm == "sn" else 40.0
        for phase, n in (("grid", 12), ("bo", 8)):
            for t in range(n):
                lr = [1e-4, 2e-4, 1e-3][t % 3] if phase == "grid" else float(10 ** rng.uniform(-5, -2))
                cfg = TrialConfig.from_dict({"loss": loss, "d_norm": d_norm, "lr": lr, "beta1": 0.5,
                                             "beta2": 0.999 if t % 2 else 0.9,
                                             "seed": t // 6 if phase == "grid" else 0})
                status = "diverged" if (phase == "bo" and t == 0) else "ok"
                fid = float("nan") if status == "diverged" else base + 100 * abs(np.log10(lr) + 3.7) + rng.normal(0, 2)
                key = f"k{i:015d}"
                i += 1
                store.write_trial(key, [{"study": "syn", "phase": phase,
                                         "bo_round": (t // 4) if phase == "bo" else None,
                                         "model": f"loss={loss},d_norm={d_norm}", "trial_key": key, **cfg.to_dict(),
                                         "step": 100, "fid": fid, "is_final": True, "status": status,
                                         "feature_extractor": "digits", "fid_samples": 360, "fid_split": "test",
                                         "timestamp": ts}])
    return path


def test_facetted_boxplot_budget_and_sensitivity_plots(tmp_path):
    df = analysis.load(str(synthetic_study(tmp_path)))
    assert df["loss"].dtype == "category" and str(df["bo_round"].dtype) == "Int32"
    top = analysis.top_fraction(df, ["loss", "d_norm", "phase"], fraction=0.25)
    fig = analysis.top_boxplot(top, x="loss", hue="d_norm", facet="phase")
    assert [ax.get_title() for ax in fig.axes] == ["phase=bo", "phase=grid"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["ns", "wgan"]
    plt.close(fig)

    curves = analysis.budget_curves(df)
    fig = analysis.budget_plot(curves)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "loss=ns,d_norm=sn (grid)" in labels and "loss=ns,d_norm=sn (bo)" in labels and len(labels) == 8
    assert ax.get_xlabel().startswith("number of hyperparameter settings")
    grid_line = next(line for line in ax.get_lines() if line.get_label() == "loss=ns,d_norm=sn (grid)")
    assert list(grid_line.get_xdata()) == list(range(1, 13))
    plt.close(fig)

    fig = analysis.sensitivity_plot(df)
    assert [a.get_xlabel() for a in fig.axes] == ["lr", "beta2"]
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xscale() == "linear"
    stars = [c for c in fig.axes[0].collections if c.get_sizes()[0] == 160]
    best = analysis.best_per_group(df, "model")
    assert sorted(v for c in stars for _, v in c.get_offsets()) == pytest.approx(sorted(best["fid"]))
    plt.close(fig)


def test_seed_spread_and_outcomes(tmp_path):
    df = analysis.load(str(synthetic_study(tmp_path)))
    spread = analysis.seed_spread(df)
    assert len(spread) == 4 * 6 and (spread["count"] == 2).all()  # six grid settings x two seeds per model
    out = analysis.outcome_fractions(df, "model")
    assert out["trials"].tolist() == [20] * 4 and out["diverged"].tolist() == pytest.approx([1 / 20] * 4)


def test_budget_panels_one_small_panel_per_model_and_outcome_counts(tmp_path):
    df = analysis.load(str(synthetic_study(tmp_path)))
    fig = analysis.budget_panels(analysis.budget_curves(df))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in visible) == sorted(df["model"].astype(str).unique())
    # bo dashed, grid solid (sorted: bo first)
    assert [ln.get_linestyle() for ln in visible[0].get_lines()] == ["--", "-"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["bo", "grid"]
    plt.close(fig)
    sixty = pd.concat([analysis.budget_curves(df).assign(model=lambda d, i=i: d["model"].astype(str) + f"#{i}")
                       for i in range(15)])
    fig = analysis.budget_panels(sixty)
    assert sum(ax.get_visible() for ax in fig.axes) == 60 and fig.axes[0].get_subplotspec().get_gridspec().ncols == 6
    plt.close(fig)
    counts = analysis.outcome_counts(df, "model")
    assert counts.to_dict("list") == {"trials": [20] * 4, "ok": [19] * 4, "diverged": [1] * 4, "failed": [0] * 4}


def test_latex_table_escapes_and_aligns():
    from analysis.report import latex_table

    tex = latex_table(pd.DataFrame({"d_norm": ["s_n", "50%"], "fid": [1.23456, 20.0]}).set_index("d_norm"))
    assert tex.splitlines() == ["\\begin{tabular}{lr}", "\\toprule", "d\\_norm & fid \\\\", "\\midrule",
                                "s\\_n & 1.235 \\\\", "50\\% & 20 \\\\", "\\bottomrule", "\\end{tabular}"]


def test_markdown_table():
    md = markdown_table(pd.DataFrame({"a": ["x", "y"], "fid": [1.23456, 20.0]}))
    assert md.splitlines() == ["| a | fid |", "| --- | --- |", "| x | 1.235 |", "| y | 20 |"]


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
def test_report_files_and_page_in_a_headless_browser(tmp_path):
    report = build_report(str(synthetic_study(tmp_path / "study")), tmp_path / "report")
    text = report.html.read_text()
    assert "FID of the top 5% of trials per loss" in text and "Best trial per model" in text
    assert {p.name for p in report.figures} == {"top_fid.png", "budget.png", "sensitivity.png"}
    for p in report.figures:
        assert (p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                and p.with_suffix(".svg").read_text().lstrip().startswith("<?xml"))
        assert p.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    tex = report.latex.read_text()
    assert tex.count("\\begin{tabular}") == text.count("<table") and "d\\_norm" in tex and "\\toprule" in tex
    assert "Outcomes per model (trials)" in text
    md = report.markdown.read_text()
    assert md.startswith("# Study syn: summary")
    assert "| loss | count | min | median | median_low | median_high | mean | max |" in md
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (Debian package 'chromium'); .ci/run installs it")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
                          report.html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-images="3"' in dom and 'data-images-loaded="3"' in dom
