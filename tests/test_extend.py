"""Grow a finished study on real Ray (bo.rounds 2 -> 3 and a second grid seed, with --extend)
and compare it with an uninterrupted study of the larger file, as tests/test_resume.py compares
a killed-and-resumed study with an uninterrupted one: the same trial keys, BO settings and FIDs,
and every trial that finished before the extension kept, not run again."""
import time

import pandas as pd
import pytest
import yaml

from study.cli import main
from study.engine.driver import run_study
from study.engine.spec import parse_spec
from study.engine.versions import read_versions

pytestmark = pytest.mark.ray

SMALL = {
    "name": "grow",
    "factors": {"loss": ["ns"]},
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 20, "eval_every": 20,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0]},
    "bo": {"rounds": 2, "trials_per_round": 5, "sampler": "tpe", "seed": 0},  # round 2 follows TPE's 10 start-ups
    "resources": {"cpu": 1},
}
LARGE = {**SMALL, "grid": {**SMALL["grid"], "seeds": [0, 1]}, "bo": {**SMALL["bo"], "rounds": 3}}
COLUMNS = ["phase", "model", "bo_round", "trial_key", "lr", "beta1", "beta2", "seed", "fid", "status"]


def _final(out) -> pd.DataFrame:
    rows = pd.read_parquet(out / "results")
    return rows[rows["is_final"]].sort_values("trial_key").reset_index(drop=True)


@pytest.fixture(scope="module")
def studies(ray_local, tmp_path_factory):
    """(grown directory, uninterrupted directory, the grown study's rows before the extension,
    the extension's StudyRun and wall time)."""
    grown, whole = tmp_path_factory.mktemp("grown"), tmp_path_factory.mktemp("whole")
    run_study(parse_spec(LARGE), yaml.safe_dump(LARGE), whole)
    run_study(parse_spec(SMALL), yaml.safe_dump(SMALL), grown)
    before = _final(grown)
    start = time.perf_counter()
    run = run_study(parse_spec(LARGE), yaml.safe_dump(LARGE), grown, extend=True)
    return grown, whole, before, run, time.perf_counter() - start


def test_an_extended_study_equals_an_uninterrupted_one_with_the_larger_file(studies):
    grown, whole, before, run, wall = studies
    print(f"extension (+1 grid, +5 BO trials) took {wall:.1f}s")
    assert (run.grid_trials, run.bo_trials) == (1, 5) and run.outcomes == {"ok": 17}
    got, want = _final(grown), _final(whole)
    assert len(got) == 17 and got["trial_key"].is_unique
    pd.testing.assert_frame_equal(got[COLUMNS], want[COLUMNS])  # same keys, rounds, settings and FIDs
    kept = got.set_index("trial_key").loc[before["trial_key"], "timestamp"]
    assert kept.tolist() == before["timestamp"].tolist()  # the trials that had finished did not run again


def test_the_directory_records_both_versions_and_status_tells_their_trials_apart(studies, capsys):
    grown, _, _, _, _ = studies
    versions = read_versions(str(grown))
    assert [v.number for v in versions] == [1, 2]
    assert yaml.safe_load((grown / versions[0].file).read_text()) == SMALL
    assert yaml.safe_load((grown / "study.yaml").read_text()) == yaml.safe_load((grown / versions[1].file).read_text())
    assert main(["status", str(grown)]) == 0
    printed = capsys.readouterr().out
    lines = printed.split("finished trials per version of the study file:")[1].splitlines()
    assert [line.split()[:1] + line.split()[-3:] for line in lines if line.split()[:1] in (["1"], ["2"])] == [
        ["1", "1", "10", "0"], ["2", "1", "5", "0"]]  # version, grid, bo, seeds


def _tree(root):
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


def test_a_refused_change_names_each_field_and_writes_nothing(studies, capsys):
    grown, _, _, _, _ = studies
    tree = _tree(grown)
    bad = {**LARGE, "trial": {**LARGE["trial"], "steps": 40}, "bo": {**LARGE["bo"], "sampler": "random"}}
    path = grown.parent / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["run", str(path), "--out", str(grown), "--extend"]) == 2
    err = capsys.readouterr().err
    assert "trial.steps: 20 -> 40" in err and "bo.sampler: 'tpe' -> 'random'" in err
    assert _tree(grown) == tree
    assert main(["run", str(path), "--out", str(grown)]) == 2  # without --extend: the hint
    assert "--extend" in capsys.readouterr().err


def test_the_report_says_which_version_ran_which_trials(studies, tmp_path):
    from analysis.report import build_report

    grown, _, _, _, _ = studies
    report = build_report(str(grown), tmp_path / "report")
    md = report.markdown.read_text()
    assert "## Finished trials per version of the study file" in md
    assert "| 1 | versions/v1.yaml | 10 | 1 |" in md and "| 2 | versions/v2.yaml | 5 | 1 |" in md


def test_new_metrics_reach_only_the_trials_still_to_come(ray_local, tmp_path):
    old = {**SMALL, "bo": {**SMALL["bo"], "rounds": 1, "trials_per_round": 2}}
    new = {**old, "trial": {**old["trial"], "metrics": "fid+kid"}, "bo": {**old["bo"], "rounds": 2}}
    run_study(parse_spec(old), yaml.safe_dump(old), tmp_path)
    before = _final(tmp_path)
    run = run_study(parse_spec(new), yaml.safe_dump(new), tmp_path, extend=True)
    assert (run.grid_trials, run.bo_trials) == (0, 2)  # the grid trial is not run again
    rows = pd.read_parquet(tmp_path / "results")
    fresh = rows[~rows["trial_key"].isin(before["trial_key"])]
    assert len(fresh) == 2 and fresh["kid"].notna().all() and (fresh["metrics"] == "fid+kid").all()
    assert rows[rows["trial_key"].isin(before["trial_key"])]["kid"].isna().all()
    # a change that adds no trial to the finished study is recorded as a version all the same, and nothing runs
    more = {**new, "keep_generators": 2}
    again = run_study(parse_spec(more), yaml.safe_dump(more), tmp_path, extend=True)
    assert (again.grid_trials, again.bo_trials) == (0, 0) and len(pd.read_parquet(tmp_path / "results")) == len(rows)
    assert [v.number for v in read_versions(str(tmp_path))] == [1, 2, 3] and not (tmp_path / "driver.lock").exists()
    assert yaml.safe_load((tmp_path / "study.yaml").read_text()) == more
