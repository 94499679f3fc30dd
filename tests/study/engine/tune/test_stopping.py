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


def _trial(i, phase):
    return SimpleNamespace(trial_id=f"t{i}", config={REQUEST: TrialRequest(phase, "m", f"k{i}", TrialConfig())})


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
