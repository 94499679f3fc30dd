"""The round barrier and Optuna bookkeeping of RoundsSearcher, driven directly."""
import optuna
import pytest
from ray.tune.search import Searcher

from study.bo_searcher import RoundsSearcher
from study.spec import parse_spec


def make(rounds=2, per_round=3, factors=None, penalty=None):
    trial = {"steps": 10, "eval_every": 5}
    if penalty:
        trial["penalty"] = penalty
    return RoundsSearcher(parse_spec({"name": "t", "factors": factors or {"loss": ["ns", "wgan"]},
                                      "trial": trial, "bo": {"rounds": rounds, "trials_per_round": per_round,
                                                             "sampler": "tpe", "seed": 0}}))


def test_a_round_is_suggested_only_after_the_previous_one_finished():
    s = make()
    first = [s.suggest(f"t{i}") for i in range(6)]
    assert all(isinstance(c, dict) for c in first)
    assert s.suggest("t6") is None  # both models wait for their round 0
    assert sorted(c["cfg"]["meta"]["model"] for c in first) == ["loss=ns"] * 3 + ["loss=wgan"] * 3
    assert {c["cfg"]["meta"]["bo_round"] for c in first} == {0}
    ns_ids = [f"t{i}" for i, c in enumerate(first) if c["cfg"]["meta"]["model"] == "loss=ns"]
    for tid in ns_ids[:2]:
        s.on_trial_complete(tid, {"fid": 10.0, "status": "ok"})
    assert s.suggest("t7") is None  # one ns trial still running
    s.on_trial_complete(ns_ids[2], {"fid": 12.0, "status": "ok"})
    nxt = s.suggest("t8")
    assert nxt["cfg"]["meta"] == {**nxt["cfg"]["meta"], "model": "loss=ns", "bo_round": 1}


def test_every_suggestion_is_in_the_table2_space_and_keys_are_unique():
    s = make(rounds=1, per_round=5, factors={"loss": ["ns"]}, penalty="gp")
    cfgs = [s.suggest(f"t{i}") for i in range(5)]
    for c in cfgs:
        t = c["cfg"]["trial"]
        assert 1e-5 <= t["lr"] <= 1e-2 and 0 <= t["beta1"] < 1 and 0 <= t["beta2"] < 1
        assert 1e-1 <= t["penalty_lambda"] <= 1e2 and t["n_dis"] == 1
    assert len({c["cfg"]["meta"]["trial_key"] for c in cfgs}) == 5


def test_diverged_errored_and_nan_trials_reach_optuna_as_failed_and_rounds_still_advance():
    s = make(rounds=2, per_round=3, factors={"loss": ["ns"]})
    for i in range(3):
        s.suggest(f"t{i}")
    s.on_trial_complete("t0", {"fid": float("nan"), "status": "ok"})
    s.on_trial_complete("t1", {"fid": float("nan"), "status": "diverged"})
    s.on_trial_complete("t2", None, error=True)
    states = [t.state for t in s.studies["loss=ns"].trials]
    assert states == [optuna.trial.TrialState.FAIL] * 3  # none left RUNNING
    assert s.suggest("t3")["cfg"]["meta"]["bo_round"] == 1


def test_finished_after_the_last_round_and_values_told_to_optuna():
    s = make(rounds=1, per_round=2, factors={"loss": ["ns"]})
    s.suggest("a"), s.suggest("b")
    s.on_trial_complete("a", {"fid": 5.0, "status": "ok"})
    s.on_trial_complete("b", {"fid": 3.0, "status": "ok"})
    assert s.suggest("c") == Searcher.FINISHED
    assert s.studies["loss=ns"].best_value == 3.0


def test_save_and_restore_keep_the_round_state(tmp_path):
    s = make(rounds=2, per_round=2, factors={"loss": ["ns"]})
    s.suggest("a"), s.suggest("b")
    s.on_trial_complete("a", {"fid": 5.0, "status": "ok"})
    s.save(str(tmp_path / "searcher.pkl"))
    r = make(rounds=2, per_round=2, factors={"loss": ["ns"]})
    r.restore(str(tmp_path / "searcher.pkl"))
    assert r.suggest("c") is None  # "b" is still in flight in round 0
    r.on_trial_complete("b", {"fid": 4.0, "status": "ok"})
    assert r.suggest("c")["cfg"]["meta"]["bo_round"] == 1
    assert len(r.studies["loss=ns"].trials) == 3


@pytest.mark.parametrize("sampler", ["gp", "tpe", "random"])
def test_every_sampler_suggests(sampler):
    s = RoundsSearcher(parse_spec({"name": "t", "trial": {"steps": 10, "eval_every": 5},
                                   "bo": {"rounds": 1, "trials_per_round": 2, "sampler": sampler}}))
    assert isinstance(s.suggest("x"), dict)


def test_warm_start_tells_optuna_the_grid_results_without_rerunning_them():
    s = make(rounds=1, per_round=2, factors={"loss": ["ns"]}, penalty="gp")
    grid = [
        {"model": "loss=ns", "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "penalty_lambda": 10.0, "n_dis": 1,
         "fid": 30.0, "status": "ok"},
        {"model": "loss=ns", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "penalty_lambda": 1.0, "n_dis": 1,
         "fid": float("nan"), "status": "diverged"},
        {"model": "loss=ns", "lr": 1e-4, "beta1": 0.5, "beta2": 0.9, "penalty_lambda": 1.0, "n_dis": 5,
         "fid": 20.0, "status": "ok"},  # n_dis 5: not a point of the BO space (n_dis 1)
        {"model": "loss=wgan", "lr": 1e-4, "beta1": 0.5, "beta2": 0.9, "penalty_lambda": 1.0, "n_dis": 1,
         "fid": 20.0, "status": "ok"},  # not a model of this study
    ]
    assert s.warm_start(grid) == 2
    trials = s.studies["loss=ns"].trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert trials[0].value == 30.0 and trials[0].params["penalty_lambda"] == 10.0
    # the round still holds trials_per_round new suggestions
    assert all(isinstance(s.suggest(t), dict) for t in ("a", "b")) and s.suggest("c") is None


def test_resources_no_node_can_hold_are_refused_before_anything_runs(ray_local, tmp_path):
    import yaml

    from study.config import ConfigError
    from study.driver import run_study

    study = {"name": "big", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [1]},
             "resources": {"cpu": 1, "gpu": 1}}
    with pytest.raises(ConfigError, match=r"resources: a trial asks for \{cpu: 1, gpu: 1\} but no node"):
        run_study(parse_spec(study), yaml.safe_dump(study), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_resume_rebuilds_rounds_and_optuna_from_stored_rows():
    s = make(rounds=3, per_round=2, factors={"loss": ["ns", "wgan"]})
    row = lambda model, rnd, fid, t: {"model": model, "bo_round": rnd, "lr": 1e-4, "beta1": 0.5,  # noqa: E731
                                      "beta2": 0.9, "fid": fid, "status": "ok", "timestamp": t}
    finished = [row("loss=ns", 0, 5.0, 1), row("loss=ns", 0, 4.0, 2), row("loss=ns", 1, 3.0, 3),
                row("loss=wgan", 0, float("nan"), 1)]
    assert s.resume(finished) == 12 - 4
    assert (s.round["loss=ns"], s.finished["loss=ns"], s.issued["loss=ns"]) == (1, 1, 1)
    assert (s.round["loss=wgan"], s.finished["loss=wgan"]) == (0, 1)
    assert len(s.studies["loss=ns"].trials) == 3 and s.studies["loss=ns"].best_value == 3.0
    assert s.studies["loss=wgan"].trials[0].state == optuna.trial.TrialState.FAIL
    got = [s.suggest(f"t{i}") for i in range(3)]
    assert [c["cfg"]["meta"]["model"] for c in got if c] == ["loss=ns", "loss=wgan"]  # one slot left each
    assert got[0]["cfg"]["meta"]["bo_round"] == 1 and got[2] is None
