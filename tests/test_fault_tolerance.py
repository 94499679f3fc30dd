"""Crashes are normal events: a trial whose worker process is killed mid-training is retried
by Ray Tune from its last checkpoint, and the study's rows stay exactly-once."""

import dataclasses

import pandas as pd
import pytest
import torch
import yaml

from study.engine.driver import run_study
from study.engine.spec import parse_spec
from tests.helpers import kill_trials_when

pytestmark = pytest.mark.ray

STUDY = {
    "name": "crash",
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 6000, "eval_every": 600,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0]},
    "max_failures": 2,
}


def test_a_killed_trial_is_retried_from_its_checkpoint(ray_local, tmp_path):
    thread, killed = kill_trials_when(  # the study's one trial, past its second evaluation
        tmp_path / "results", lambda rows: len(rows) and (rows["step"] >= 1200).any() and not rows["is_final"].any())
    run_study(parse_spec(STUDY), yaml.safe_dump(STUDY), tmp_path, flush_every_s=0)
    thread.join(timeout=5)
    assert killed, "the trial finished before it could be killed"
    rows = pd.read_parquet(tmp_path / "results")
    assert len(rows) == 10 and rows["step"].is_unique  # every evaluation once: 600 ... 6000
    final = rows[rows["is_final"]]
    assert len(final) == 1 and final["status"].iloc[0] == "ok"
    # the retry continued from a checkpoint at or after the last row seen before the kill
    assert final["restored_from_step"].iloc[0] >= 600
    assert rows[rows["step"] <= final["restored_from_step"].iloc[0]]["restored_from_step"].eq(0).all()


def _tiny(name: str, **extra) -> dict:
    return {"name": name, "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 40,
                                    "eval_every": 10, "eval_samples": 100},
            "grid": {"preset": "kurach2019", "select": [1], "seeds": [0]}, "resources": {"cpu": 1}, **extra}


def test_a_trial_that_raises_once_is_retried_from_its_checkpoint_and_succeeds(ray_local, tmp_path):
    marker = tmp_path / "raised-once"

    def flaky(config):  # the real trainable; its trial raises once, at its second evaluation
        from study.engine.tune import trainable
        from study.gan import trial

        real = trial.run_trial

        def run(cfg, report, state=None, checkpoints=False, **kw):
            def failing_report(row, *rest):
                if row["step"] == 20 and not marker.exists():
                    marker.touch()
                    raise RuntimeError("injected failure at step 20")
                report(row, *rest)

            return real(cfg, failing_report, state, checkpoints, **kw)

        trial.run_trial = run
        try:
            trainable.tune_trainable(config)
        finally:
            trial.run_trial = real

    study = _tiny("flaky", max_failures=1)
    run_study(parse_spec(study), yaml.safe_dump(study), tmp_path / "study", trainable=flaky)
    assert marker.exists()
    rows = pd.read_parquet(tmp_path / "study" / "results").sort_values("step")
    assert rows["step"].tolist() == [10, 20, 30, 40]  # each evaluation once, none lost or repeated
    assert rows["is_final"].tolist() == [False, False, False, True] and rows["status"].eq("ok").all()
    assert rows["restored_from_step"].tolist() == [0, 10, 10, 10]  # the retry began at the step-10 checkpoint
    assert list((tmp_path / "study" / "ray").rglob("checkpoint_*")) == []  # finished: its checkpoint is gone


def test_a_trial_fed_nan_is_stored_diverged_and_the_next_bo_round_still_comes(ray_local, tmp_path):
    def nan_in_round_0(config):  # the real trainable; round-0 BO trials train on NaN images
        from study.engine.tune import trainable
        from study.engine.tune.searcher import request_of
        from study.gan.training import build

        real = build.load_dataset

        def poisoned(*args):
            data = real(*args)
            return dataclasses.replace(data, train=torch.full_like(data.train, float("nan")))

        if request_of(config).bo_round == 0:
            build.load_dataset = poisoned
        try:
            trainable.tune_trainable(config)
        finally:
            build.load_dataset = real

    study = _tiny("nan", bo={"rounds": 2, "trials_per_round": 2, "sampler": "tpe", "seed": 0})
    study.pop("grid")
    run_study(parse_spec(study), yaml.safe_dump(study), tmp_path / "study", trainable=nan_in_round_0)
    final = pd.read_parquet(tmp_path / "study" / "results").query("is_final")
    by_round = final.groupby("bo_round")["status"].agg(list).to_dict()
    assert by_round == {0: ["diverged", "diverged"], 1: ["ok", "ok"]}
    diverged = final[final["status"] == "diverged"]
    assert diverged["fid"].isna().all() and diverged["step"].eq(1).all()  # caught at the first step
    assert diverged["error"].str.contains("non-finite loss at step 1").all()


def test_a_study_with_a_failed_trial_says_so_and_exits_non_zero(ray_local, tmp_path, capsys):
    from study.cli import _finish

    def broken(config):
        raise RuntimeError("a bug in the trial")

    study = _tiny("broken", max_failures=0)
    run = run_study(parse_spec(study), yaml.safe_dump(study), tmp_path / "study", trainable=broken)
    assert run.outcomes == {"failed": 1} and run.failed == 1
    assert _finish(run) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "study ended with 1 failed trials" in last
    row = pd.read_parquet(tmp_path / "study" / "results").iloc[0]
    assert row["status"] == "failed" and "a bug in the trial" in row["error"]
