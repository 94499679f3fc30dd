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
