"""The scheduler behind Tune's Searcher interface: typed requests in Tune's config, JSON state."""
import json

from ray.tune.search import Searcher

from study.engine.phases import PhasedScheduler
from study.engine.request import TrialRequest
from study.engine.spec import parse_spec
from study.engine.tune.searcher import REQUEST, StudySearcher, request_of


def make():
    spec = parse_spec({"name": "s", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [1]},
                       "bo": {"rounds": 1, "trials_per_round": 1, "sampler": "random"}})
    return StudySearcher(PhasedScheduler(spec, [], log=lambda *a: None))


def test_suggestions_carry_a_typed_request_and_end_with_finished():
    s = make()
    grid, bo = s.suggest("a"), s.suggest("b")
    assert set(grid) == {REQUEST} and isinstance(request_of(grid), TrialRequest)
    assert (request_of(grid).phase, request_of(bo).phase) == ("grid", "bo")
    assert s.suggest("c") is None  # the BO round is in flight
    s.on_trial_complete("a", {"fid": 3.0, "status": "ok"})
    s.on_trial_complete("b", {"fid": 2.0, "status": "ok"})
    assert s.suggest("d") == Searcher.FINISHED


def test_the_saved_searcher_state_is_json_not_a_pickle(tmp_path):
    s = make()
    s.suggest("a")
    s.save(str(tmp_path / "searcher"))
    raw = (tmp_path / "searcher").read_bytes()
    assert not raw.startswith(b"\x80")  # a pickle's protocol byte
    assert json.loads(raw)["suggested"] == {"grid": 1, "bo": 0, "seeds": 0}
    fresh = make()
    fresh.restore(str(tmp_path / "searcher"))  # reads nothing back: the store and journal are the truth
    assert fresh.scheduler.suggested == {"grid": 0, "bo": 0, "seeds": 0}


def test_a_fused_group_is_one_suggestion_and_each_member_is_told_alone():
    """fuse 3: a BO round of 3 is one FusedRequest; when the group errors after one member had
    finished, that member reaches Optuna COMPLETE with its FID and the others FAIL."""
    import optuna

    from study.engine.request import MEMBERS, NEW, FusedRequest

    spec = parse_spec({"name": "s", "trial": {"steps": 10, "eval_every": 5},
                       "bo": {"rounds": 2, "trials_per_round": 3, "sampler": "random"}, "resources": {"fuse": 3}})
    s = StudySearcher(PhasedScheduler(spec, [], log=lambda *a: None), fuse=spec.resources.fuse)
    got = request_of(s.suggest("t0"))
    assert isinstance(got, FusedRequest) and len(got.members) == 3
    assert s.suggest("t1") is None  # the round is in flight as one group
    done = {"trial_key": got.members[0].trial_key, "fid": 12.5, "status": "ok", "is_final": True, NEW: False}
    s.on_trial_complete("t0", {MEMBERS: [done]}, error=True)
    study = next(iter(s.scheduler.bo.studies.values()))  # the one model's Optuna study
    states = sorted((t.state.name, t.value) for t in study.get_trials())
    assert states == [("COMPLETE", 12.5), ("FAIL", None), ("FAIL", None)]
    assert s.scheduler.bo.round[next(iter(s.scheduler.bo.round))] == 1  # the round closed: round 1 comes next
    assert len(request_of(s.suggest("t2")).members) == 3
    assert optuna.trial.TrialState.RUNNING not in [t.state for t in study.get_trials()][:3]
