"""A tiny study through every real layer: study file -> Ray Tune (grid, then Optuna BO in
rounds) -> Parquet -> analysis tables and a PNG plot."""
import math

import matplotlib.image
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

import analysis
from analysis.cli import analyze
from study.engine.driver import run_study
from study.engine.spec import parse_spec

pytestmark = pytest.mark.ray

STUDY = {
    "name": "tiny",
    "factors": {"loss": ["ns", "wgan"], "d_norm": ["none", "sn"]},
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 30, "eval_every": 15,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0]},
    "bo": {"rounds": 2, "trials_per_round": 2, "sampler": "tpe", "seed": 0, "warm_start": True},
    "seeds": {"count": 2, "from": ["grid", "bo"]},
    "resources": {"cpu": 1},
}


@pytest.fixture(scope="module")
def study_run(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    text = yaml.safe_dump(STUDY)
    run = run_study(parse_spec(STUDY), text, out, segment_trials=10)  # 28 trials: three Tuners, one scheduler
    return out, run, text


def test_rows_cover_both_phases_with_numbered_rounds(study_run):
    out, run, _ = study_run
    rows = analysis.load_rows(str(out))
    final = rows[rows["is_final"]]
    assert len(final) == 4 * 1 + 4 * 2 * 2 + 4 * 2  # grid: 1 setting; BO: 2 rounds x 2; seeds: 2 per model
    assert final["trial_key"].is_unique
    assert (final["phase"] == "grid").sum() == 4 and (final["phase"] == "bo").sum() == 16
    bo = final[final["phase"] == "bo"]
    assert bo.groupby(["model", "bo_round"]).size().to_dict() == {
        (m, r): 2 for m in bo["model"].unique() for r in (0, 1)}
    assert final[final["phase"] == "grid"]["bo_round"].isna().all()
    # two evaluations per trial (steps 15 and 30), each its own row
    assert rows.groupby("trial_key").size().eq(2).all()
    # healthy configs: the grid setting (lr 2e-4, beta 0.5/0.999) trains to a finite FID
    grid = final[final["phase"] == "grid"]
    assert (grid["status"] == "ok").all() and grid["fid"].map(math.isfinite).all()
    assert set(grid["lr"]) == {0.0002} and set(grid["n_dis"]) == {1}
    assert (final["study"] == "tiny").all() and final["package_version"].notna().all()
    assert final["torch_version"].notna().all() and final["hostname"].notna().all()


def test_seeds_phase_reruns_each_models_best_setting(study_run):
    out, _, _ = study_run
    df = analysis.load(str(out))
    seeds = df[df["phase"] == "seeds"]
    for model, group in seeds.groupby("model", observed=True):
        pool = df[(df["model"] == model) & df["phase"].isin(["grid", "bo"]) & (df["status"] == "ok")]
        best = pool.loc[pool["fid"].idxmin()]
        assert len(group) == 2 and best["seed"] not in set(group["seed"])
        for col in ("lr", "beta1", "beta2", "n_dis", "loss", "d_norm"):
            assert (group[col].astype(object) == best[col]).all(), col
    spread = analysis.seed_spread(df)
    assert len(spread) == 4 and (spread["count"] == 3).all()  # the best trial and its two re-runs


def test_parquet_files_are_readable_one_by_one(study_run):
    out, _, _ = study_run
    files = sorted((out / "results").glob("*.parquet"))
    assert {f.name[:5] for f in files} == {"part-"} and len(files) == 3  # compacted at each Tuner's end
    assert sum(pq.read_table(f).num_rows for f in files) == 56


def test_finished_trials_leave_no_checkpoints_behind(study_run):
    out, _, _ = study_run
    # every trial checkpointed at step 15 (its non-final evaluation); a finished trial's is deleted
    trial_dirs = [d for d in (out / "ray").glob("*/*_*") if d.is_dir()]
    assert len(trial_dirs) == 28
    assert [p for p in (out / "ray").rglob("checkpoint_*")] == []


def _tree(root):
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


def test_rerun_runs_nothing_again_and_writes_nothing(study_run, ray_local):
    out, run, text = study_run
    assert run.outcomes == {"ok": 28} and run.failed == 0
    before, tree = pd.read_parquet(out / "results"), _tree(out)
    again = run_study(parse_spec(STUDY), text, out)
    assert again.grid_trials == 0 and again.bo_trials == 0 and again.seed_trials == 0
    assert again.outcomes == {"ok": 28}
    after = pd.read_parquet(out / "results")
    assert len(after) == len(before)
    assert _tree(out) == tree  # a finished study resumes on read-only storage: not one file touched


def test_a_different_study_in_the_same_directory_is_refused(study_run, ray_local):
    out, _, _ = study_run
    other = {**STUDY, "name": "other"}
    with pytest.raises(Exception, match="already holds a different study"):
        run_study(parse_spec(other), yaml.safe_dump(other), out)


def test_analyze_prints_tables_and_writes_a_readable_png(study_run, capsys):
    out, _, _ = study_run
    assert analyze(str(out)) == 0
    printed = capsys.readouterr().out
    assert "FID of the top 5% trials per loss" in printed and "FID of the top 5% trials per d_norm" in printed
    png = out / "analysis" / "top5_fid.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_analyze_with_an_unwritable_default_output_says_so(study_run, tmp_path, capsys):
    out, _, _ = study_run
    blocked = tmp_path / "study"
    blocked.mkdir()
    (blocked / "results").symlink_to(out / "results")
    (blocked / "analysis").write_text("a file where the output folder would go")
    assert analyze(str(blocked)) == 2
    printed = capsys.readouterr().out
    assert "cannot write to" in printed and "pass --out DIR" in printed
    assert analyze(str(blocked), str(tmp_path / "elsewhere")) == 0


def test_report_is_written_from_the_study(study_run, tmp_path):
    from analysis.report import build_report

    out, _, _ = study_run
    report = build_report(str(out), tmp_path / "report")
    page = report.html.read_text()
    assert "Study tiny" in page and "FID of the top 5% of trials per loss" in page
    assert {p.name for p in report.figures} >= {"top_fid.png", "budget.png"}


def test_every_trial_keeps_grids_and_each_model_its_best_generator(study_run, tmp_path):
    from study.cli import main
    from study.gan.export import load_generator

    out, _, _ = study_run
    final = analysis.load_rows(str(out))
    final = final[final["is_final"]]
    assert {p.name for p in (out / "samples").iterdir()} == set(final["trial_key"])
    for key in final["trial_key"]:
        assert sorted(p.name for p in (out / "samples" / key).iterdir()) == ["best.png", "final.png"]
    best = final.loc[final.groupby("model")["best_fid"].idxmin()]
    assert {p.name for p in (out / "generators").iterdir()} == set(best["trial_key"])  # keep_generators: 1
    model = best.iloc[0]
    assert main(["export", str(out), "--model", model["model"], "-o", str(tmp_path / "G.pt")]) == 0
    gen = load_generator(str(tmp_path / "G.pt"), device="cpu")
    assert gen.info["trial_key"] == model["trial_key"] and gen.info["fid"] == model["best_fid"]


def test_rescore_then_report_on_the_real_study(study_run, tmp_path):
    """The kept generators (one per model) rescored from the CLI: each one's FID again equals its
    trial's best_fid; the report then carries intervals, the agreement section and seed spread."""
    from study.cli import main

    out, _, _ = study_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.parquet")}
    assert main(["rescore", str(out), "--metrics", "kid+pr", "--device", "cpu"]) == 0
    rows = analysis.load_rescored(str(out))
    assert len(rows) == 4 * 5 and set(rows["model"]) == set(analysis.load(str(out))["model"].astype(str))
    df = analysis.with_rescores(analysis.load(str(out)), rows)
    kept = df[df["fid@digits"].notna()]
    # Equal but for float summation order: the trial ran in a Ray worker with trial.threads threads.
    assert len(kept) == 4 and ((kept["fid@digits"] - kept["best_fid"]).abs() < 1e-7 * kept["best_fid"]).all()
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.parquet")} == before
    assert main(["report", str(out), "-o", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "summary.md").read_text()
    assert "median_low" in text and "Kendall's tau between the metrics' rankings" in text
    assert "KID (digits)" in text and "Verdicts per metric, d_norm" in text
