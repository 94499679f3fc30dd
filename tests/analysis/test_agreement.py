"""The agreement section: each metric's per-model statistic in its own direction, the rankings'
Kendall tau against hand-worked values, verdicts per metric, and the paper's claims beside them."""
import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.agreement import (
    agreement_tables,
    claims_verdicts,
    comparisons,
    label,
    metric_columns,
    model_scores,
    rank_agreement,
    rank_table,
)
from analysis.paper import paper_conclusions


def _models(values: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """{metric: {model: [trial values]}} -> one row per trial (every metric the same trial count)."""
    frames = []
    for model in next(iter(values.values())):
        n = len(next(iter(values.values()))[model])
        frames.append(pd.DataFrame({"model": [model] * n, **{m: v[model] for m, v in values.items()}}))
    return pd.concat(frames, ignore_index=True)


def test_labels_name_the_feature_space():
    assert label("fid@dinov2_vitl14") == "FD-DINOv2 (vitl14)"
    assert label("kid@inception") == "KID (inception)"
    assert label("dc_coverage", "digits") == "coverage (digits)"


def test_model_scores_take_the_top_in_each_metrics_direction():
    # 20 trials per model: k = ceil(0.1 * 20) = 2, the statistic is the mean of the two best.
    fid = {"a": list(range(10, 30)), "b": list(range(20, 40))}
    recall = {"a": [i / 100 for i in range(20)], "b": [i / 100 for i in range(40, 60)]}
    scores = model_scores(_models({"fid": fid, "pr_recall": recall}), ["fid", "pr_recall"], fraction=0.1)
    assert scores.loc["a", "fid"] == 10.5 and scores.loc["b", "fid"] == 20.5  # lowest two
    assert scores.loc["a", "pr_recall"] == pytest.approx(0.185) and scores.loc["b", "pr_recall"] == pytest.approx(0.585)
    ranks = rank_table(scores)
    assert list(ranks["fid"]) == [1, 2] and list(ranks["pr_recall"]) == [2, 1]  # recall: higher is better


def test_kendall_tau_of_the_rankings_against_a_hand_count():
    # Rankings a<b<c<d by FID, a<c<b<d by KID: 5 concordant pairs, 1 discordant: tau = (5 - 1) / 6.
    scores = pd.DataFrame({"fid": [1.0, 2.0, 3.0, 4.0], "kid": [0.1, 0.3, 0.2, 0.4],
                           "pr_precision": [0.9, 0.8, 0.7, 0.6]}, index=list("abcd"))
    tau = rank_agreement(scores).set_index(["metric_a", "metric_b"])["kendall_tau"]
    assert tau["fid", "kid"] == pytest.approx(4 / 6)
    assert tau["fid", "pr_precision"] == pytest.approx(1.0)  # precision falls as FID rises: the same order


def test_verdicts_per_metric():
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"d_norm": ["sn"] * n + ["bn"] * n + ["none"] * n,
                       "fid": np.r_[rng.normal(20, 1, n), rng.normal(60, 1, n), rng.normal(20.2, 1, n)],
                       "kid": np.r_[rng.normal(1, 0.1, n), rng.normal(1, 0.1, n), rng.normal(1, 0.1, n)],
                       "dc_coverage": np.r_[rng.normal(0.9, 0.01, n), rng.normal(0.5, 0.01, n),
                                            [np.nan] * (n - 2) + [0.9, 0.9]]})
    table = comparisons(df, "d_norm", ["fid", "kid", "dc_coverage"], fraction=0.25)
    assert table.loc["bn vs sn", "fid"].startswith("sn better (p_holm")
    assert table.loc["bn vs none", "fid"].startswith("none better")
    assert table.loc["bn vs sn", "dc_coverage"].startswith("sn better")  # coverage: higher is better
    assert table.loc["none vs sn", "dc_coverage"] == "too few values"  # two finite values for none
    assert table.loc["bn vs sn", "kid"].startswith("no clear difference")
    claims = pd.DataFrame({"factor": ["d_norm", "d_norm"], "better": ["sn", "bn"], "worse": ["bn", "none"],
                           "claim": ["x", "y"], "source": ["s", "s"]})
    verdicts = claims_verdicts(claims, df, ["fid", "kid"], fraction=0.25).set_index("claim")
    assert verdicts.loc["sn better than bn (d_norm): x", "fid"].startswith("yes (p_holm")
    assert verdicts.loc["bn better than none (d_norm): y", "fid"].startswith("opposite")
    assert verdicts.loc["sn better than bn (d_norm): x", "kid"].startswith("not shown")


def test_the_section_lists_the_metrics_present_and_the_papers_testable_claims():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"model": np.repeat(["m1", "m2", "m3"], 10), "d_norm": np.repeat(["sn", "bn", "none"], 10),
                       "feature_extractor": "digits", "fid": rng.normal(30, 5, 30), "kid": rng.normal(1, 0.2, 30),
                       "fid@inception": [np.nan] * 29 + [50.0]})
    assert metric_columns(df) == ["fid", "kid"]  # fid@inception: one value, ranks nothing
    claims = paper_conclusions(df)
    assert set(zip(claims["better"], claims["worse"])) == {("sn", "none"), ("sn", "bn"), ("none", "bn")}
    titles = [t for t, _ in agreement_tables(df, ["d_norm"], 0.05, claims)]
    assert titles[2].startswith("Kendall's tau between the metrics' rankings of the 3 models")
    assert any(t.startswith("Verdicts per metric, d_norm") for t in titles)
    assert titles[-1] == "The paper's conclusions and this study's verdicts"
    assert agreement_tables(df[["model", "fid"]], ["d_norm"]) == []


def test_the_report_carries_the_agreement_section_with_rescored_columns(tmp_path):
    """A study (FID in digits space) whose generators were rescored in another space: the report
    ranks the models by both, gives tau, the verdicts per metric and the paper's claims."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.report import build_report
    from study.engine.rescore import SCHEMA
    from tests.analysis.test_report import synthetic_study

    root = synthetic_study(tmp_path / "s")
    df = analysis.load(str(root))
    (root / "rescore").mkdir()
    ts = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    rows = [{"trial_key": k, "model": m, "metric": "fid", "feature_extractor": "inception", "value": 3 * f + 1,
             "timestamp": ts} for k, m, f in zip(df["trial_key"].astype(str), df["model"].astype(str), df["fid"])]
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), root / "rescore" / "all.parquet")
    report = build_report(str(root), tmp_path / "report")
    text = report.markdown.read_text()
    assert "## Kendall's tau between the metrics' rankings of the 4 models" in text
    assert "| FID (digits) | 1 | 1 |" in text and "| FID (inception) | 1 | 1 |" in text  # the same order
    assert "## Verdicts per metric, d_norm" in text and "| bn vs sn | sn better (p_holm" in text
    assert "| sn better than bn (d_norm): SN is the better default" in text


def test_the_report_compares_the_checkpoint_rescore_scored(tmp_path):
    """Each trial's rescored generator is its best evaluation's: the agreement section reads the
    study's metrics there too, not at the final evaluation (where here the order is reversed)."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.report import build_report
    from study.engine.rescore import SCHEMA
    from study.engine.store import ResultsStore
    from study.gan.config import TrialConfig

    store, ts = ResultsStore(str(tmp_path)), dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    best = {"a": 10.0, "b": 20.0, "c": 30.0}
    for model, fid in best.items():
        cfg = TrialConfig.from_dict({"seed": ord(model)}).to_dict()
        ident = {"study": "s", "phase": "grid", "model": model, "trial_key": f"k{model}", **cfg,
                 "feature_extractor": "digits", "fid_samples": 360, "fid_split": "test", "status": "ok",
                 "timestamp": ts}
        store.write_trial(f"k{model}", [{**ident, "step": 1, "fid": fid, "kid": fid, "is_final": False},
                                        {**ident, "step": 2, "fid": 100 - fid, "kid": 100 - fid, "is_final": True}])
    rows = [{"trial_key": f"k{m}", "model": m, "metric": "fid", "feature_extractor": "inception", "value": 2 * f,
             "timestamp": ts} for m, f in best.items()]
    (tmp_path / "rescore").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp_path / "rescore" / "x.parquet")
    text = build_report(str(tmp_path), tmp_path / "report").markdown.read_text()
    assert "| FID (digits) | 1 | 1 |" in text  # tau 1; at the final evaluation it would be -1
    assert "each trial at its best evaluation" in text


def test_a_rescored_column_of_two_protocols_is_flagged():
    from analysis.rescored import rescored_columns

    rows = pd.DataFrame({"trial_key": ["k1", "k2"], "metric": "fid", "feature_extractor": "inception",
                         "value": [1.0, 2.0], "fid_resize": ["tf_bilinear", "clean"]})
    with pytest.warns(UserWarning, match="fid@inception: trials scored under different protocols"):
        table = rescored_columns(rows)
    assert table["fid@inception"].to_dict() == {"k1": 1.0, "k2": 2.0}


def test_the_tau_matrix_is_symmetric_with_the_pairs_values():
    from analysis.agreement import tau_matrix

    pairs = pd.DataFrame({"metric_a": ["fid", "fid", "kid"], "metric_b": ["kid", "pr_recall", "pr_recall"],
                          "kendall_tau": [0.5, -1.0, 0.2]})
    m = tau_matrix(pairs)
    assert list(m.index) == ["fid", "kid", "pr_recall"] and (np.diag(m) == 1).all()
    assert m.loc["kid", "fid"] == m.loc["fid", "kid"] == 0.5 and m.loc["pr_recall", "fid"] == -1.0
