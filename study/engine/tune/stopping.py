"""Opt-in early stopping: Ray Tune's ASHA or median stopping rule over the reported FID,
one scheduler per model.

The schedulers see the trial's own ``step`` (training steps) as time and ``fid`` as the metric
to minimise. Each model gets its own scheduler: a study compares models, and one scheduler over
all of them would stop every trial of a model whose FIDs are merely higher than another's
(measured: ASHA over a 4-model digits study stopped all 6 trials of one model). Only trials of
the phases the study names are judged (the seeds phase re-runs the best settings and always
trains to the end): other trials are not even recorded, so they never move a cutoff. A stopped
trial ends without its final evaluation; the store callback then marks its last row
``stopped`` and the searcher tells Optuna PRUNED.
"""
from __future__ import annotations

from typing import Callable

from study.engine.spec import StudySpec
from study.engine.tune.searcher import request_of


def grace_steps(spec: StudySpec) -> int:
    es = spec.early_stopping
    assert es is not None
    return es.grace_steps or min(spec.config(m).eval_every for m in spec.models())


def max_steps(spec: StudySpec) -> int:
    return max(spec.config(m).steps for m in spec.models())


def _factory(spec: StudySpec) -> Callable[[], object]:
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

    es = spec.early_stopping
    assert es is not None
    common = dict(time_attr="step", metric="fid", mode="min", grace_period=grace_steps(spec))
    if es.scheduler == "asha":
        return lambda: ASHAScheduler(max_t=max_steps(spec), reduction_factor=es.reduction_factor, **common)
    # min_time_slice=inf: with too few samples the rule continues a trial instead of pausing it
    return lambda: MedianStoppingRule(min_samples_required=es.min_samples, min_time_slice=float("inf"),
                                      hard_stop=True, **common)


def stopping_scheduler(spec: StudySpec, choose=None):
    """A Tune scheduler that hands each judged trial to its model's own ASHA / median scheduler;
    ``choose``: a ``choose_trial_to_run(fallback, controller)`` (default: FIFO's)."""
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    es = spec.early_stopping
    assert es is not None
    make, phases = _factory(spec), set(es.phases)

    class PerModel(FIFOScheduler):
        def __init__(self) -> None:
            super().__init__()
            self.inner: dict[str, object] = {}

        def set_search_properties(self, metric, mode, **spec) -> bool:
            return True  # every model's scheduler was built with metric "fid", mode "min"

        def _of(self, trial):
            req = request_of(trial.config)
            if req.phase not in phases:
                return None
            if req.model not in self.inner:
                self.inner[req.model] = make()
            return self.inner[req.model]

        def on_trial_add(self, tune_controller, trial) -> None:
            if (s := self._of(trial)) is not None:
                s.on_trial_add(tune_controller, trial)

        def on_trial_result(self, tune_controller, trial, result) -> str:
            s = self._of(trial)
            return TrialScheduler.CONTINUE if s is None else s.on_trial_result(tune_controller, trial, result)

        def on_trial_complete(self, tune_controller, trial, result) -> None:
            if (s := self._of(trial)) is not None:
                s.on_trial_complete(tune_controller, trial, result)

        def on_trial_error(self, tune_controller, trial) -> None:
            if (s := self._of(trial)) is not None:
                s.on_trial_error(tune_controller, trial)

        def on_trial_remove(self, tune_controller, trial) -> None:
            if (s := self._of(trial)) is not None:
                s.on_trial_remove(tune_controller, trial)

        def choose_trial_to_run(self, tune_controller):
            if choose is None:
                return super().choose_trial_to_run(tune_controller)
            return choose(super().choose_trial_to_run, tune_controller)

        def debug_string(self) -> str:
            return f"early stopping ({es.scheduler}) per model: {len(self.inner)} models judged"

    return PerModel()
