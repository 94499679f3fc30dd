"""The FIFO scheduler that skips Tune's scan of every trial picks what Tune's FIFO would."""
from types import SimpleNamespace


class FakeTrial:  # hashable, as Tune's trials are
    def __init__(self, status):
        self.status = status

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler

from study.engine.tune.runner import fifo_scheduler


def test_it_picks_the_first_pending_trial_then_a_paused_one_like_tunes_fifo():
    t = [FakeTrial(s) for s in (Trial.TERMINATED, Trial.PENDING, Trial.RUNNING, Trial.PENDING)]
    controller = SimpleNamespace(get_trials=lambda: t, _pending_trials_list=[t[0], t[1], t[3]], _paused_trials=set())
    assert fifo_scheduler().choose_trial_to_run(controller) is t[1] is FIFOScheduler().choose_trial_to_run(controller)
    t[1].status = t[3].status = Trial.RUNNING  # stale entries of the pending list are skipped
    paused = FakeTrial(Trial.PAUSED)
    t.append(paused)
    controller._paused_trials = {paused}
    assert fifo_scheduler().choose_trial_to_run(controller) is paused is FIFOScheduler().choose_trial_to_run(controller)
    paused.status = Trial.RUNNING
    assert fifo_scheduler().choose_trial_to_run(controller) is None
    wrapped = SimpleNamespace(_tune_controller=controller, get_trials=lambda: t)  # Tune passes a wrapper
    t[0].status = Trial.PENDING
    assert fifo_scheduler().choose_trial_to_run(wrapped) is t[0]
    # without the controller's lists (another Ray version): Tune's own scan
    assert fifo_scheduler().choose_trial_to_run(SimpleNamespace(get_trials=lambda: t)) is t[0]
