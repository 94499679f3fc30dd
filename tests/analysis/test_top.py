"""Top-k% on hand-made tables with known answers, and the plot's contents."""
import datetime as dt

import matplotlib
import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.load import load
from analysis.top import summarize, top_fraction
from study.engine.store import ResultsStore
from study.gan.config import TrialConfig


def table():
    # group a: 40 trials with FIDs 1..40 -> ceil(0.05 * 40) = 2 -> {1, 2}
    # group b: 10 trials, FIDs 10..100 step 10, two diverged (NaN) -> ceil(0.5) = 1 -> {10}
    # group c: 3 trials all diverged -> nothing
    a = pd.DataFrame({"loss": "a", "fid": np.arange(1.0, 41.0)})
    b = pd.DataFrame({"loss": "b", "fid": [np.nan, np.nan] + [10.0 * i for i in range(1, 9)]})
    c = pd.DataFrame({"loss": "c", "fid": [np.nan] * 3})
    return pd.concat([a, b, c], ignore_index=True)


def test_top_five_percent_with_the_small_group_rule():
    top = top_fraction(table(), "loss")
    assert top.groupby("loss")["fid"].apply(sorted).to_dict() == {"a": [1.0, 2.0], "b": [10.0]}
    assert top.set_index("loss")["group_trials"].to_dict() == {"a": 40, "b": 10}


def test_fraction_and_summary():
    top = top_fraction(table(), "loss", fraction=0.1)  # a: 4 -> 1..4; b: 1 -> 10
    s = summarize(top, "loss")
    assert list(s.index) == ["a", "b"]
    assert s.loc["a", "median"] == 2.5 and s.loc["a", "count"] == 4 and s.loc["b", "min"] == 10.0
    with pytest.raises(ValueError, match="fraction"):
        top_fraction(table(), "loss", fraction=0)


def test_boxplot_has_the_groups_axes_and_points(tmp_path):
    df = pd.DataFrame({"loss": ["ns"] * 4 + ["wgan"] * 4, "d_norm": ["none", "sn"] * 4,
                       "fid": [30.0, 20.0, 32.0, 22.0, 50.0, 40.0, 52.0, 41.0]})
    fig = analysis.top_boxplot(df, x="loss", hue="d_norm", path=tmp_path / "p.png")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "loss" and "FID" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ns", "wgan"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["d_norm=none", "d_norm=sn"]
    points = sorted(v for coll in ax.collections for _, v in coll.get_offsets())
    assert points == sorted(df["fid"])
    assert (tmp_path / "p.png").stat().st_size > 1000
    matplotlib.pyplot.close(fig)


def test_load_final_or_best_and_filters(tmp_path):
    store = ResultsStore(str(tmp_path))
    cfg = TrialConfig().to_dict()
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def row(key, phase, step, fid, final, status="ok"):
        return {"study": "s", "phase": phase, "model": "m", "trial_key": key, **cfg, "step": step, "fid": fid,
                "is_final": final, "status": status, "timestamp": ts}

    store.write_trial("k1", [row("k1", "grid", 10, 5.0, False), row("k1", "grid", 20, 8.0, True)])
    store.write_trial("k2", [row("k2", "bo", 10, 9.0, False), row("k2", "bo", 20, float("nan"), True, "diverged")])
    final = analysis.load(str(tmp_path)).set_index("trial_key")
    assert final.loc["k1", "fid"] == 8.0 and final.loc["k2", "status"] == "diverged"
    best = analysis.load(str(tmp_path), which="best").set_index("trial_key")
    assert best.loc["k1", "fid"] == 5.0 and best.loc["k1", "step"] == 10
    assert best.loc["k2", "fid"] == 9.0
    assert list(analysis.load(str(tmp_path), phase="bo")["trial_key"]) == ["k2"]
    assert list(analysis.load(str(tmp_path), status="ok")["trial_key"]) == ["k1"]
    with pytest.raises(FileNotFoundError, match="no study results"):
        analysis.load(str(tmp_path / "nowhere"))


def test_load_leaves_out_damaged_files_and_copies_and_keeps_the_config_columns(tmp_path):
    store = ResultsStore(str(tmp_path))
    base = {"study": "s", "phase": "grid", "model": "loss=ns", **TrialConfig().to_dict(), "status": "ok"}
    store.write_trial("k1", [{**base, "trial_key": "k1", "step": 10, "fid": 5.0, "is_final": True}])
    results = tmp_path / "results"
    (results / "k1 (copy).parquet").write_bytes((results / "k1.parquet").read_bytes())
    (results / "k2.parquet").write_bytes(b"junk")
    with pytest.warns(UserWarning) as caught:
        df = load(str(tmp_path))
    assert len(df) == 1 and df["fid"].tolist() == [5.0]  # the copy is not counted twice
    assert {w.message.args[0].split(":")[1].strip() for w in caught} == {str(results / "k1 (copy).parquet"),
                                                                        str(results / "k2.parquet")}
    assert "lr" in df.attrs["config_columns"] and "fid" not in df.attrs["config_columns"]
