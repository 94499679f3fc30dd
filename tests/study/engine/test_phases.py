"""PhasedScheduler: one scheduler for grid, BO and seeds, gated per model; driven directly (no Ray)."""
import json

import optuna

from study.engine.phases import PhasedScheduler
from study.engine.request import FINISHED, TrialRequest
from study.engine.spec import parse_spec

GRID_LR = 2e-4  # Kurach Table 1, setting 1 (lr 2e-4, beta1 0.5, beta2 0.999, n_dis 1)


def make(warm_start=False, seeds=2, stored=(), seeds_from=("grid", "bo"), grid_seeds=(0, 1), bo=True):
    study = {"name": "p", "factors": {"loss": ["ns", "wgan"]}, "trial": {"steps": 10, "eval_every": 5},
             "grid": {"preset": "kurach2019", "select": [1], "seeds": list(grid_seeds)},
             "seeds": {"count": seeds, "from": list(seeds_from)}}
    if bo:
        study["bo"] = {"rounds": 2, "trials_per_round": 2, "sampler": "tpe", "seed": 0, "warm_start": warm_start}
    return PhasedScheduler(parse_spec(study), list(stored), log=lambda *a: None)


def drain(s, prefix):
    """Suggest until the scheduler has nothing to give now; return {trial id: request}."""
    out, i = {}, 0
    while isinstance(got := s.suggest(f"{prefix}{i}"), TrialRequest):
        out[f"{prefix}{i}"] = got
        i += 1
    return out, got


def finish(s, issued, fid=lambda req: 50.0):
    for tid, req in issued.items():
        s.on_trial_complete(tid, {"fid": fid(req), "status": "ok"})


def values(issued, attr):
    return sorted(getattr(r, attr) for r in issued.values())


def test_without_warm_start_bo_fills_the_slots_while_the_grid_still_runs():
    s = make()
    assert s.upper_bound() == 4 + 2 * 2 * 2 + 2 * 2  # grid 2 models x 2 seeds, BO 2x2 per model, seeds 2 each
    issued, waiting = drain(s, "t")
    assert waiting is None  # round barrier; nothing finished yet
    assert [r.phase for r in issued.values()] == ["grid"] * 4 + ["bo"] * 4  # grid first, then every round 0
    assert all(r.config.lr == GRID_LR for r in issued.values() if r.phase == "grid")


def test_warm_start_holds_a_models_bo_until_its_own_grid_is_done_and_tells_optuna_the_results():
    s = make(warm_start=True)
    grid, waiting = drain(s, "g")
    assert waiting is None and values(grid, "phase") == ["grid"] * 4  # no BO before any grid result
    ns = {t: r for t, r in grid.items() if r.model == "loss=ns"}
    finish(s, dict(list(ns.items())[:1]), fid=lambda r: 40.0)
    assert s.suggest("x") is None  # one ns grid trial still running
    finish(s, dict(list(ns.items())[1:]), fid=lambda r: 30.0)
    bo, waiting = drain(s, "b")
    assert waiting is None and values(bo, "model") == ["loss=ns"] * 2  # wgan still waits for its grid
    told = s.bo.studies["loss=ns"].trials
    assert [t.value for t in told[:2]] == [40.0, 30.0] and told[0].params["lr"] == GRID_LR
    assert len(s.bo.studies["loss=wgan"].trials) == 0


def test_seeds_rerun_a_models_best_setting_once_its_grid_and_bo_are_done():
    s = make(seeds=2)
    first, _ = drain(s, "a")
    finish(s, {t: r for t, r in first.items() if r.phase == "grid"})
    bo0 = {t: r for t, r in first.items() if r.phase == "bo"}
    best = {}

    def fid(req):  # a distinct FID per trial; remember each model's lowest
        value = 100.0 * req.config.lr * 1e3 + req.config.beta1
        if req.model not in best or value < best[req.model][0]:
            best[req.model] = (value, req.config)
        return value

    finish(s, bo0, fid)
    bo1, waiting = drain(s, "b")
    assert values(bo1, "bo_round") == [1] * 4 and waiting is None  # no seeds before round 1 is done
    finish(s, {t: r for t, r in bo1.items() if r.model == "loss=ns"}, fid)
    seeds, waiting = drain(s, "s")
    assert waiting is None and values(seeds, "model") == ["loss=ns"] * 2  # ns is done, wgan's round 1 runs
    want = best["loss=ns"][1]
    for r in seeds.values():
        assert r.phase == "seeds" and (r.config.lr, r.config.beta1, r.config.beta2) == (want.lr, want.beta1,
                                                                                          want.beta2)
    assert sorted(r.config.seed for r in seeds.values()) == [x for x in range(3) if x != want.seed][:2]
    finish(s, {t: r for t, r in bo1.items() if r.model == "loss=wgan"}, fid)
    last, done = drain(s, "w")
    assert values(last, "model") == ["loss=wgan"] * 2 and done == FINISHED
    assert s.suggested == {"grid": 4, "bo": 8, "seeds": 4}


def test_a_model_without_a_finite_fid_gets_no_seeds_and_the_search_still_finishes():
    s = make(seeds=3, seeds_from=("grid",), grid_seeds=(0,), bo=False)
    grid, _ = drain(s, "g")
    for tid, req in grid.items():
        ok = req.model == "loss=ns"
        s.on_trial_complete(tid, {"fid": 10.0 if ok else float("nan"), "status": "ok" if ok else "diverged"})
    seeds, done = drain(s, "s")
    assert values(seeds, "model") == ["loss=ns"] * 3 and done == FINISHED


def test_resume_skips_finished_trials_and_continues_the_rounds():
    first = make()
    issued, _ = drain(first, "t")
    finished = list(issued.values())[:5]  # 4 grid trials and one BO trial finished before a crash
    stored = [{**r.columns("p"), "is_final": True, "fid": 20.0, "status": "ok", "timestamp": i}
              for i, r in enumerate(finished)]
    s = make(stored=stored)
    assert s.upper_bound() == 0 + (8 - 1) + 4
    again, _ = drain(s, "r")
    assert values(again, "phase") == ["bo"] * 3  # no grid again; round 0 of one model had a trial done
    assert not {r.trial_key for r in again.values()} & {r["trial_key"] for r in stored}
    # the other slot of that model's round is the one the first driver had handed out
    assert {r.trial_key for r in again.values()} <= {r.trial_key for r in issued.values()}
    told = s.bo.studies[finished[4].model].trials
    assert [t.state for t in told] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING]
    assert told[0].value == 20.0


def test_state_is_plain_json():
    s = make(warm_start=True)
    grid, _ = drain(s, "g")
    finish(s, {t: r for t, r in grid.items() if r.model == "loss=ns"})
    state = json.loads(json.dumps(s.state()))
    assert state["grid_left"] == {"loss=ns": 0, "loss=wgan": 2} and state["bo"]["blocked"] == ["loss=wgan"]


def test_suggest_group_hands_out_one_models_alike_trials_and_takes_them_back_one_by_one():
    """Fused groups (resources.fuse): a model's grid seeds, then a model's BO round, each one
    group; members keep their own ids, and the BO round closes when every member is told."""
    s = make(grid_seeds=(0, 1, 2))
    first = s.suggest_group("g0", 4)
    assert [mid for mid, _ in first] == ["g0/0", "g0/1", "g0/2"]
    assert {r.model for _, r in first} == {"loss=ns"} and [r.config.seed for _, r in first] == [0, 1, 2]
    second = s.suggest_group("g1", 2)  # the other model's grid, at most 2
    assert [r.model for _, r in second] == ["loss=wgan"] * 2
    third = s.suggest_group("g2", 4)
    assert [(r.phase, r.config.seed) for _, r in third] == [("grid", 2)]
    bo = s.suggest_group("b0", 4)
    assert [r.phase for _, r in bo] == ["bo", "bo"] and len({r.model for _, r in bo}) == 1
    assert len({r.trial_key for _, r in bo}) == 2
    finish(s, dict(first + second + third))
    for mid, req in bo:
        assert s.bo.round[req.model] == 0
        s.on_trial_complete(mid, {"fid": 40.0, "status": "ok", "is_final": True})
    assert s.bo.round[bo[0][1].model] == 1  # the round closed once both members were told
    study = s.bo.studies[bo[0][1].model]
    assert [t.state for t in study.get_trials() if t.user_attrs.get("bo_round") == 0] == \
        [optuna.trial.TrialState.COMPLETE] * 2


def test_suggest_group_of_one_is_the_plain_suggestion():
    s, t = make(), make()
    assert [r.trial_key for _, r in s.suggest_group("x", 1)] == [t.suggest("x").trial_key]
