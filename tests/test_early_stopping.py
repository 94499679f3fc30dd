"""Opt-in early stopping on real Ray Tune and Optuna: a stopped trial is 'stopped' in Parquet at
the step it reached and PRUNED in its model's Optuna study; trials it does not judge run on."""
import optuna
import pandas as pd
import pytest
import yaml

from study.engine.driver import run_study
from study.engine.spec import parse_spec

pytestmark = pytest.mark.ray


def scripted(config):
    """Reports FID 1 at every evaluation for grid trials, 100 for BO trials: one trial at a time
    (cpu: 2 of 2), ASHA's first rung (step 10) holds the grid's 1s when a BO trial reaches it."""
    from ray import tune

    from study.engine.tune.searcher import request_of

    req = request_of(config)
    fid = 1.0 if req.phase == "grid" else 100.0
    for step in (10, 20, 30, 40):
        tune.report({"step": step, "fid": fid, "best_fid": fid, "status": "ok", "is_final": step == 40,
                     "wall_time_s": 0.1})


def test_an_early_stopped_trial_is_stopped_in_parquet_and_pruned_in_optuna(ray_local, tmp_path):
    study = {"name": "es", "factors": {"loss": ["ns"]},
             "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "steps": 40, "eval_every": 10},
             "grid": {"preset": "kurach2019", "select": [0, 1], "seeds": [0]},
             "bo": {"rounds": 1, "trials_per_round": 2, "sampler": "tpe", "seed": 0},
             "early_stopping": {"scheduler": "asha", "grace_steps": 10, "reduction_factor": 2},
             "resources": {"cpu": 2}, "tensorboard": True}
    out = tmp_path / "study"
    run = run_study(parse_spec(study), yaml.safe_dump(study), out, trainable=scripted)
    assert run.outcomes == {"ok": 2, "stopped": 2}
    rows = pd.read_parquet(out / "results")
    final = rows[rows["is_final"]].set_index("phase")
    assert (final.loc["grid", "status"] == "ok").all() and (final.loc["grid", "step"] == 40).all()
    stopped = final.loc["bo"]
    assert (stopped["status"] == "stopped").all() and (stopped["step"] == 10).all()
    assert stopped["error"].str.contains("stopped early at step 10 by the asha scheduler").all()
    assert rows.groupby("trial_key").size().to_dict() == {
        **{k: 4 for k in final.loc["grid", "trial_key"]}, **{k: 1 for k in stopped["trial_key"]}}
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "optuna" / "journal.log")))
    trials = optuna.load_study(study_name="loss=ns", storage=storage).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert sorted(t.user_attrs["trial_key"] for t in trials) == sorted(stopped["trial_key"])
    # tensorboard: true: one run per trial, grouped by model, holding its FIDs
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = sorted((out / "tensorboard" / "loss=ns").iterdir())
    assert sorted(r.name for r in runs) == sorted(f"{p}_{k}" for p, k in zip(final.index, final["trial_key"]))
    for run in runs:
        fids = [e.value for e in EventAccumulator(str(run)).Reload().Scalars("fid")]
        assert fids == ([1.0] * 4 if run.name.startswith("grid") else [100.0])
