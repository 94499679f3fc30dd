"""The round barrier, Optuna bookkeeping and resume of RoundsScheduler, driven directly (no Ray)."""
import optuna
import pytest

from study.engine.bo import RoundsScheduler, journal_storage
from study.engine.request import FINISHED, TrialRequest
from study.engine.spec import parse_spec


def spec(rounds=2, per_round=3, factors=None, penalty=None, sampler="tpe"):
    trial = {"steps": 10, "eval_every": 5}
    if penalty:
        trial["penalty"] = penalty
    return parse_spec({"name": "t", "factors": factors or {"loss": ["ns", "wgan"]}, "trial": trial,
                       "bo": {"rounds": rounds, "trials_per_round": per_round, "sampler": sampler, "seed": 0}})


def make(storage=None, stored=(), **kw):
    return RoundsScheduler(spec(**kw), storage, stored=stored)


def test_a_round_is_suggested_only_after_the_previous_one_finished():
    s = make()
    first = [s.suggest(f"t{i}") for i in range(6)]
    assert all(isinstance(r, TrialRequest) for r in first)
    assert s.suggest("t6") is None  # both models wait for their round 0
    assert sorted(r.model for r in first) == ["loss=ns"] * 3 + ["loss=wgan"] * 3
    assert {r.bo_round for r in first} == {0} and {r.phase for r in first} == {"bo"}
    ns_ids = [f"t{i}" for i, r in enumerate(first) if r.model == "loss=ns"]
    for tid in ns_ids[:2]:
        s.on_trial_complete(tid, {"fid": 10.0, "status": "ok"})
    assert s.suggest("t7") is None  # one ns trial still running
    s.on_trial_complete(ns_ids[2], {"fid": 12.0, "status": "ok"})
    nxt = s.suggest("t8")
    assert (nxt.model, nxt.bo_round) == ("loss=ns", 1)


def test_every_suggestion_is_in_the_table2_space_and_keys_are_unique():
    s = make(rounds=1, per_round=5, factors={"loss": ["ns"]}, penalty="gp")
    reqs = [s.suggest(f"t{i}") for i in range(5)]
    for r in reqs:
        c = r.config
        assert 1e-5 <= c.lr <= 1e-2 and 0 <= c.beta1 < 1 and 0 <= c.beta2 < 1
        assert 1e-1 <= c.penalty_lambda <= 1e2 and c.n_dis == 1
    assert len({r.trial_key for r in reqs}) == 5


def test_diverged_errored_and_nan_trials_reach_optuna_as_failed_and_rounds_still_advance():
    s = make(rounds=2, per_round=3, factors={"loss": ["ns"]})
    for i in range(3):
        s.suggest(f"t{i}")
    s.on_trial_complete("t0", {"fid": float("nan"), "status": "ok"})
    s.on_trial_complete("t1", {"fid": float("nan"), "status": "diverged"})
    s.on_trial_complete("t2", None, error=True)
    states = [t.state for t in s.studies["loss=ns"].trials]
    assert states == [optuna.trial.TrialState.FAIL] * 3  # none left RUNNING
    assert s.suggest("t3").bo_round == 1


def test_finished_after_the_last_round_and_values_told_to_optuna():
    s = make(rounds=1, per_round=2, factors={"loss": ["ns"]})
    s.suggest("a"), s.suggest("b")
    s.on_trial_complete("a", {"fid": 5.0, "status": "ok"})
    s.on_trial_complete("b", {"fid": 3.0, "status": "ok"})
    assert s.suggest("c") == FINISHED and s.remaining() == 0
    assert s.studies["loss=ns"].best_value == 3.0


@pytest.mark.parametrize("sampler", ["gp", "tpe", "random"])
def test_every_sampler_suggests(sampler):
    s = RoundsScheduler(parse_spec({"name": "t", "trial": {"steps": 10, "eval_every": 5},
                                    "bo": {"rounds": 1, "trials_per_round": 2, "sampler": sampler}}))
    assert isinstance(s.suggest("x"), TrialRequest)


def test_warm_start_tells_optuna_the_grid_results_without_rerunning_them():
    s = make(rounds=1, per_round=2, factors={"loss": ["ns"]}, penalty="gp")
    grid = [
        {"model": "loss=ns", "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "penalty_lambda": 10.0, "n_dis": 1,
         "fid": 30.0, "status": "ok", "trial_key": "g1"},
        {"model": "loss=ns", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "penalty_lambda": 1.0, "n_dis": 1,
         "fid": float("nan"), "status": "diverged", "trial_key": "g2"},
        {"model": "loss=ns", "lr": 1e-4, "beta1": 0.5, "beta2": 0.9, "penalty_lambda": 1.0, "n_dis": 5,
         "fid": 20.0, "status": "ok", "trial_key": "g3"},  # n_dis 5: not a point of the BO space (n_dis 1)
        {"model": "loss=wgan", "lr": 1e-4, "beta1": 0.5, "beta2": 0.9, "penalty_lambda": 1.0, "n_dis": 1,
         "fid": 20.0, "status": "ok", "trial_key": "g4"},  # not a model of this study
    ]
    assert s.warm_start(grid) == 2
    assert s.warm_start(grid) == 0  # told once, also when a resumed driver offers them again
    trials = s.studies["loss=ns"].trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert trials[0].value == 30.0 and trials[0].params["penalty_lambda"] == 10.0
    # the round still holds trials_per_round new suggestions
    assert all(isinstance(s.suggest(t), TrialRequest) for t in ("a", "b")) and s.suggest("c") is None


def test_a_round_does_not_depend_on_how_many_slots_ask_or_when_trials_finish():
    """Round r's settings are asked together when it opens: two runs that take them at
    different paces and finish them in other orders suggest the same settings."""
    fast, slow = make(rounds=3, per_round=3, factors={"loss": ["ns"]}), make(rounds=3, per_round=3,
                                                                              factors={"loss": ["ns"]})

    def run(s, order):
        seen, i = [], 0
        while (r := s.suggest(f"t{i}")) != FINISHED:
            if r is None:  # wait: finish the round's trials in the given order
                for tid in order(list(s.live)):
                    s.on_trial_complete(tid, {"fid": 1.0 + s.live[tid][1] % 5, "status": "ok"})
                continue
            seen.append((r.bo_round, r.trial_key, r.config.lr))
            i += 1
        return seen

    assert run(fast, lambda ids: ids) == run(slow, lambda ids: ids[::-1])


def _drive(s, stop_after=None):
    """Run a BO phase to the end (or until ``stop_after`` trials finished), finishing the
    oldest in-flight trial whenever the scheduler waits; returns the finished (round, key,
    setting), the final rows a store would hold, and whether the phase finished."""
    finished, rows, live, i = [], [], {}, 0
    while True:
        r = s.suggest(f"d{i}")
        if r == FINISHED:
            return finished, rows, True
        if r is None:
            tid, req = next(iter(live.items()))
            del live[tid]
            fid = 10.0 + 1000 * req.config.lr
            s.on_trial_complete(tid, {"fid": fid, "status": "ok"})
            finished.append((req.bo_round, req.trial_key, (req.config.lr, req.config.beta1, req.config.beta2)))
            rows.append({**req.columns("t"), "is_final": True, "fid": fid, "status": "ok", "timestamp": len(rows)})
            if stop_after is not None and len(finished) >= stop_after:
                return finished, rows, False
            continue
        live[f"d{i}"] = r
        i += 1


def _crash_and_resume(tmp_path, kw, stop_after, with_journal):
    whole, _, done = _drive(make(**kw))
    assert done
    first = make(journal_storage(str(tmp_path)) if with_journal else None, **kw)
    before, rows, done = _drive(first, stop_after=stop_after)  # then the driver dies, trials in flight
    assert not done
    again = make(journal_storage(str(tmp_path)) if with_journal else None, stored=rows, **kw)
    after, _, done = _drive(again)
    assert done
    return whole, before + after, again


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_with_the_journal_a_resumed_study_suggests_exactly_what_an_uninterrupted_one_does(tmp_path, sampler):
    kw = dict(rounds=4, per_round=4, factors={"loss": ["ns"]}, sampler=sampler)  # past the 10 random start-ups
    whole, got, again = _crash_and_resume(tmp_path, kw, stop_after=10, with_journal=True)
    settings = [s for _, _, s in got]
    assert len(settings) == len(set(settings)) == 16  # no setting twice, none lost
    assert sorted(got) == sorted(whole)  # the same settings, rounds and keys as without the crash
    trials = again.studies["loss=ns"].trials  # the journal kept every trial once; nothing RUNNING
    assert len(trials) == 16 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_without_a_journal_a_resumed_study_never_suggests_a_setting_twice(tmp_path, sampler):
    kw = dict(rounds=3, per_round=3, factors={"loss": ["ns"]}, sampler=sampler)
    whole, got, _ = _crash_and_resume(tmp_path, kw, stop_after=4, with_journal=False)
    settings = [s for _, _, s in got]
    assert len(settings) == len(set(settings)) == 9
    assert sorted(k for _, k, _ in got) == sorted(k for _, k, _ in whole)  # each slot's key once
    if sampler == "random":  # settings depend on the slot's seed only: the same as without the crash
        assert sorted(got) == sorted(whole)


def test_journal_trials_in_flight_at_a_crash_are_handed_out_again_with_their_key(tmp_path):
    kw = dict(rounds=2, per_round=3, factors={"loss": ["ns"]})
    first = make(journal_storage(str(tmp_path)), **kw)
    reqs = [first.suggest(f"a{i}") for i in range(3)]
    first.on_trial_complete("a0", {"fid": 5.0, "status": "ok"})
    row_a0 = {**reqs[0].columns("t"), "is_final": True, "fid": 5.0, "status": "ok", "timestamp": 0}
    final_row = {**reqs[1].columns("t"), "is_final": True, "fid": 4.0, "status": "ok", "timestamp": 1}
    # the driver died after the store got reqs[1]'s final row but before Optuna was told
    again = make(journal_storage(str(tmp_path)), stored=[row_a0, final_row], **kw)
    assert again.round["loss=ns"] == 0 and again.remaining() == 1 + 3
    r = again.suggest("b0")
    assert (r.trial_key, r.config) == (reqs[2].trial_key, reqs[2].config)
    values = sorted(t.value for t in again.studies["loss=ns"].trials if t.value is not None)
    assert values == [4.0, 5.0]  # reqs[1] told from its stored row, not run again


def test_resume_without_a_journal_rebuilds_rounds_and_optuna_from_stored_rows():
    _, rows, _ = _drive(make(rounds=3, per_round=2, factors={"loss": ["ns", "wgan"]}), stop_after=3)
    s = make(rounds=3, per_round=2, factors={"loss": ["ns", "wgan"]}, stored=rows)
    assert s.remaining() == 12 - 3
    told = {m: [t for t in s.studies[m].trials if t.state.is_finished()] for m in ("loss=ns", "loss=wgan")}
    assert sum(len(v) for v in told.values()) == 3
    assert all(t.user_attrs["trial_key"] in {r["trial_key"] for r in rows} for v in told.values() for t in v)


def test_journal_trials_whose_final_rows_are_lost_run_again_with_their_setting_and_key(tmp_path):
    """A part file lost with its copy: Optuna holds the trials complete, the store has no row.
    They are handed out again (before anything else), and Optuna is not told twice."""
    kw = dict(rounds=2, per_round=3, factors={"loss": ["ns"]})
    finished, rows, done = _drive(make(journal_storage(str(tmp_path)), **kw))
    assert done and len(finished) == 6
    lost = {finished[1][1], finished[4][1]}  # one trial of each round
    again = make(journal_storage(str(tmp_path)), stored=[r for r in rows if r["trial_key"] not in lost], **kw)
    assert again.remaining() == 2 and not again.done()
    reqs = [again.suggest(f"r{i}") for i in range(2)]
    got = sorted((r.bo_round, r.trial_key, (r.config.lr, r.config.beta1, r.config.beta2)) for r in reqs)
    assert got == sorted([finished[1], finished[4]])  # the recorded rounds, keys and settings
    assert again.suggest("r2") is None and not again.done()  # they run; nothing else is left
    for i in range(2):
        again.on_trial_complete(f"r{i}", {"fid": 1.0, "status": "ok"})
    assert again.suggest("r3") == FINISHED and again.remaining() == 0
    trials = again.studies["loss=ns"].trials
    assert len(trials) == 6 and sorted(t.value for t in trials) == sorted(10.0 + 1000 * s[0] for _, _, s in finished)


def test_a_lost_trial_joins_a_fused_group_of_its_model(tmp_path):
    kw = dict(rounds=1, per_round=3, factors={"loss": ["ns"]})
    finished, rows, _ = _drive(make(journal_storage(str(tmp_path)), **kw))
    again = make(journal_storage(str(tmp_path)), stored=rows[:1], **kw)
    first = again.suggest("g/0")
    more = again.take_more("loss=ns", lambda req: True, ["g/1", "g/2"])
    assert sorted(r.trial_key for r in [first, *more]) == sorted(k for _, k, _ in finished[1:])
    assert len(more) == 1  # two trials lost, both in the group
    for tid in ("g/0", "g/1"):
        assert not again.done()
        again.on_trial_complete(tid, {"fid": 1.0, "status": "ok"})
    assert again.done()


def test_every_models_optuna_study_names_its_objective_fid(tmp_path, recwarn):
    kw = dict(rounds=1, per_round=2, factors={"loss": ["ns", "wgan"]})
    make(journal_storage(str(tmp_path)), **kw)
    again = make(journal_storage(str(tmp_path)), **kw)  # a resumed journal: named once, still named
    for name in ("loss=ns", "loss=wgan"):
        loaded = optuna.load_study(study_name=name, storage=journal_storage(str(tmp_path)))
        assert loaded.metric_names == ["fid"] == again.studies[name].metric_names
    assert not [w for w in recwarn if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]
