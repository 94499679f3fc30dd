"""Opt-in early stopping: Ray Tune's ASHA or median stopping rule over the reported FID.

The schedulers see the trial's own ``step`` (training steps) as time and ``fid`` as the metric
to minimise. Only trials of the phases the study names are judged (the seeds phase re-runs the
best settings and always trains to the end): results of other trials are not even recorded,
so they never move a rung's cutoff. A stopped trial ends without its final evaluation; the
store callback then marks its last row ``stopped`` and the searcher tells Optuna PRUNED.
"""
from __future__ import annotations

from study.engine.spec import StudySpec
from study.engine.tune.searcher import request_of


def grace_steps(spec: StudySpec) -> int:
    es = spec.early_stopping
    assert es is not None
    return es.grace_steps or min(spec.config(m).eval_every for m in spec.models())


def max_steps(spec: StudySpec) -> int:
    return max(spec.config(m).steps for m in spec.models())


def stopping_scheduler(spec: StudySpec, choose=None):
    """The Tune scheduler of ``spec.early_stopping`` gated to its phases; ``choose``: a
    ``choose_trial_to_run(scheduler, controller)`` to use instead of the base class's."""
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule, TrialScheduler

    es = spec.early_stopping
    assert es is not None
    phases = set(es.phases)
    base = ASHAScheduler if es.scheduler == "asha" else MedianStoppingRule

    class PhaseGated(base):
        def _judged(self, trial) -> bool:
            return request_of(trial.config).phase in phases

        def on_trial_result(self, tune_controller, trial, result):
            if not self._judged(trial):
                return TrialScheduler.CONTINUE
            return super().on_trial_result(tune_controller, trial, result)

        def on_trial_complete(self, tune_controller, trial, result):
            if self._judged(trial):
                super().on_trial_complete(tune_controller, trial, result)

        def choose_trial_to_run(self, tune_controller):
            if choose is None:
                return super().choose_trial_to_run(tune_controller)
            return choose(super().choose_trial_to_run, tune_controller)

    common = dict(time_attr="step", metric="fid", mode="min")
    if es.scheduler == "asha":
        return PhaseGated(max_t=max_steps(spec), grace_period=grace_steps(spec),
                          reduction_factor=es.reduction_factor, **common)
    return PhaseGated(grace_period=grace_steps(spec), min_samples_required=es.min_samples, **common)
