"""PhasedSearcher: one Tune searcher for grid, BO and seeds, gated per model; driven directly."""
import optuna
from ray.tune.search import Searcher

from study.phases import PhasedSearcher
from study.spec import parse_spec

GRID_LR = 2e-4  # Kurach Table 1, setting 1 (lr 2e-4, beta1 0.5, beta2 0.999, n_dis 1)


def make(warm_start=False, seeds=2, stored=(), seeds_from=("grid", "bo"), grid_seeds=(0, 1)):
    spec = parse_spec({"name": "p", "factors": {"loss": ["ns", "wgan"]}, "trial": {"steps": 10, "eval_every": 5},
                       "grid": {"preset": "kurach2019", "select": [1], "seeds": list(grid_seeds)},
                       "bo": {"rounds": 2, "trials_per_round": 2, "sampler": "tpe", "seed": 0,
                              "warm_start": warm_start},
                       "seeds": {"count": seeds, "from": list(seeds_from)}})
    return PhasedSearcher(spec, list(stored), log=lambda *a: None)


def drain(s, prefix):
    """Suggest until the searcher has nothing to give now; return {trial id: cfg}."""
    out, i = {}, 0
    while isinstance(got := s.suggest(f"{prefix}{i}"), dict):
        out[f"{prefix}{i}"] = got["cfg"]
        i += 1
    return out, got


def finish(s, issued, fid=lambda cfg: 50.0):
    for tid, cfg in issued.items():
        s.on_trial_complete(tid, {"fid": fid(cfg), "status": "ok"})


def meta(issued, key):
    return sorted(c["meta"][key] for c in issued.values())


def test_without_warm_start_bo_fills_the_slots_while_the_grid_still_runs():
    s = make()
    assert s.upper_bound() == 4 + 2 * 2 * 2 + 2 * 2  # grid 2 models x 2 seeds, BO 2x2 per model, seeds 2 each
    issued, waiting = drain(s, "t")
    assert waiting is None  # round barrier; nothing finished yet
    phases = [c["meta"]["phase"] for c in issued.values()]
    assert phases == ["grid"] * 4 + ["bo"] * 4  # grid first, then every model's first round at once
    assert all(c["trial"]["lr"] == GRID_LR for c in issued.values() if c["meta"]["phase"] == "grid")


def test_warm_start_holds_a_models_bo_until_its_own_grid_is_done_and_tells_optuna_the_results():
    s = make(warm_start=True)
    grid, waiting = drain(s, "g")
    assert waiting is None and meta(grid, "phase") == ["grid"] * 4  # no BO before any grid result
    ns = {t: c for t, c in grid.items() if c["meta"]["model"] == "loss=ns"}
    finish(s, dict(list(ns.items())[:1]), fid=lambda c: 40.0)
    assert s.suggest("x") is None  # one ns grid trial still running
    finish(s, dict(list(ns.items())[1:]), fid=lambda c: 30.0)
    bo, waiting = drain(s, "b")
    assert waiting is None and meta(bo, "model") == ["loss=ns"] * 2  # wgan still waits for its grid
    told = s.bo.studies["loss=ns"].trials
    assert [t.value for t in told[:2]] == [40.0, 30.0] and told[0].params["lr"] == GRID_LR
    assert len(s.bo.studies["loss=wgan"].trials) == 0


def test_seeds_rerun_a_models_best_setting_once_its_grid_and_bo_are_done():
    s = make(seeds=2)
    first, _ = drain(s, "a")
    finish(s, {t: c for t, c in first.items() if c["meta"]["phase"] == "grid"})
    bo0 = {t: c for t, c in first.items() if c["meta"]["phase"] == "bo"}
    best = {}

    def fid(cfg):  # a distinct FID per trial; remember each model's lowest
        value = 100.0 * cfg["trial"]["lr"] * 1e3 + cfg["trial"]["beta1"]
        m = cfg["meta"]["model"]
        if m not in best or value < best[m][0]:
            best[m] = (value, cfg["trial"])
        return value

    finish(s, bo0, fid)
    bo1, waiting = drain(s, "b")
    assert meta(bo1, "bo_round") == [1] * 4 and waiting is None  # no seeds before round 1 is done
    ns1 = {t: c for t, c in bo1.items() if c["meta"]["model"] == "loss=ns"}
    finish(s, ns1, fid)
    seeds, waiting = drain(s, "s")
    assert waiting is None and meta(seeds, "model") == ["loss=ns"] * 2  # ns is done, wgan's round 1 runs
    want = best["loss=ns"][1]
    for c in seeds.values():
        assert c["meta"]["phase"] == "seeds"
        assert {k: c["trial"][k] for k in ("lr", "beta1", "beta2")} == {k: want[k] for k in ("lr", "beta1", "beta2")}
    assert sorted(c["trial"]["seed"] for c in seeds.values()) == [s_ for s_ in range(3) if s_ != want["seed"]][:2]
    finish(s, {t: c for t, c in bo1.items() if c["meta"]["model"] == "loss=wgan"}, fid)
    last, done = drain(s, "w")
    assert meta(last, "model") == ["loss=wgan"] * 2 and done == Searcher.FINISHED
    assert s.suggested == {"grid": 4, "bo": 8, "seeds": 4}


def test_a_model_without_a_finite_fid_gets_no_seeds_and_the_search_still_finishes():
    s = make(seeds=3, seeds_from=("grid",), grid_seeds=(0,))
    s.bo = None  # grid and seeds only
    grid, _ = drain(s, "g")
    for tid, cfg in grid.items():
        ok = cfg["meta"]["model"] == "loss=ns"
        s.on_trial_complete(tid, {"fid": 10.0 if ok else float("nan"), "status": "ok" if ok else "diverged"})
    seeds, done = drain(s, "s")
    assert meta(seeds, "model") == ["loss=ns"] * 3 and done == Searcher.FINISHED


def test_resume_skips_finished_trials_and_continues_the_rounds():
    first = make()
    issued, _ = drain(first, "t")
    finished = [c for c in issued.values()][:5]  # 4 grid trials and one BO trial finished before a crash
    stored = [{**c["trial"], **c["meta"], "bo_round": c["meta"].get("bo_round"), "is_final": True, "fid": 20.0,
               "status": "ok", "timestamp": i} for i, c in enumerate(finished)]
    s = make(stored=stored)
    assert s.upper_bound() == 0 + (8 - 1) + 4
    again, _ = drain(s, "r")
    assert meta(again, "phase") == ["bo"] * 3  # no grid again; round 0 of one model had a trial done
    assert not {c["meta"]["trial_key"] for c in again.values()} & {r["trial_key"] for r in stored}
    told = s.bo.studies[finished[4]["meta"]["model"]].trials  # the stored trial, then its round's other slot
    assert [t.state for t in told] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING]
    assert told[0].value == 20.0


def test_save_and_restore_keep_the_phase_state(tmp_path):
    s = make(warm_start=True)
    grid, _ = drain(s, "g")
    finish(s, {t: c for t, c in grid.items() if c["meta"]["model"] == "loss=ns"})
    s.save(str(tmp_path / "searcher.pkl"))
    fresh = make(warm_start=True)
    fresh.restore(str(tmp_path / "searcher.pkl"))
    assert fresh.grid_left == {"loss=ns": 0, "loss=wgan": 2} and fresh.bo.blocked == {"loss=wgan"}
    nxt = fresh.suggest("b0")
    assert nxt["cfg"]["meta"]["phase"] == "bo" and nxt["cfg"]["meta"]["model"] == "loss=ns"
