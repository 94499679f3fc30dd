"""The early-stopping scheduler judges only the phases the study names, over FID at the step."""
from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from study.engine.request import TrialRequest
from study.engine.spec import parse_spec
from study.engine.tune.searcher import REQUEST
from study.engine.tune.stopping import grace_steps, max_steps, stopping_scheduler
from study.gan.config import TrialConfig

STUDY = {"name": "es", "trial": {"steps": 900, "eval_every": 100}, "grid": {"select": [1]},
         "early_stopping": {"scheduler": "asha", "reduction_factor": 3}}


class _Trial:  # what the schedulers read of a Tune trial (hashable, as Tune's are)
    def __init__(self, i, phase, model):
        self.trial_id, self.status = f"t{i}", "RUNNING"
        self.config = {REQUEST: TrialRequest(phase, model, f"k{i}", TrialConfig())}


def _trial(i, phase, model="m"):
    return _Trial(i, phase, model)


def test_grace_defaults_to_the_first_evaluation_and_max_t_to_the_steps():
    spec = parse_spec(STUDY)
    assert (grace_steps(spec), max_steps(spec)) == (100, 900)
    assert grace_steps(parse_spec({**STUDY, "early_stopping": {"grace_steps": 300}})) == 300


def test_asha_stops_a_worse_grid_trial_but_never_a_seeds_trial():
    sched = stopping_scheduler(parse_spec(STUDY))
    trials = [_trial(0, "grid"), _trial(1, "grid"), _trial(2, "seeds")]
    for t in trials:
        sched.on_trial_add(None, t)
    assert sched.on_trial_result(None, trials[0], {"step": 100, "fid": 10.0}) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, trials[1], {"step": 100, "fid": 50.0}) == TrialScheduler.STOP
    assert sched.on_trial_result(None, trials[2], {"step": 100, "fid": 99.0}) == TrialScheduler.CONTINUE


def test_each_model_is_judged_against_its_own_trials_only():
    sched = stopping_scheduler(parse_spec(STUDY))
    good, bad, bad2 = _trial(0, "grid", "a"), _trial(1, "bo", "b"), _trial(2, "bo", "b")
    for t in (good, bad, bad2):
        sched.on_trial_add(None, t)
    assert sched.on_trial_result(None, good, {"step": 100, "fid": 1.0}) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, bad, {"step": 100, "fid": 80.0}) == TrialScheduler.CONTINUE  # first of b
    assert sched.on_trial_result(None, bad2, {"step": 100, "fid": 90.0}) == TrialScheduler.STOP  # worse than b's
    assert sorted(sched.inner) == ["a", "b"]


def test_median_rule_continues_while_it_has_too_few_samples():
    sched = stopping_scheduler(parse_spec({**STUDY, "early_stopping": {"scheduler": "median", "min_samples": 2}}))
    trials = [_trial(i, "grid") for i in range(3)]
    for t in trials:
        sched.on_trial_add(SimpleNamespace(get_live_trials=lambda: trials), t)
    controller = SimpleNamespace(get_live_trials=lambda: trials)
    for step in (100, 200, 300):
        assert sched.on_trial_result(controller, trials[0], {"step": step, "fid": 5.0}) == TrialScheduler.CONTINUE
        assert sched.on_trial_result(controller, trials[1], {"step": step, "fid": 6.0}) == TrialScheduler.CONTINUE
    sched.on_trial_complete(controller, trials[0], {"step": 300, "fid": 5.0})
    sched.on_trial_complete(controller, trials[1], {"step": 300, "fid": 6.0})
    assert sched.on_trial_result(controller, trials[2], {"step": 200, "fid": 50.0}) == TrialScheduler.STOP

