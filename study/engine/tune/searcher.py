"""The study's scheduler behind Ray Tune's ``Searcher`` interface.

Tune asks for a config per trial id; the scheduler answers a ``TrialRequest``, which travels
to the worker as Tune's trial config ``{"request": TrialRequest}``. Tune saves its searcher
with the experiment: here that is a JSON summary, never a pickle, since resuming reads the
results store and the Optuna journal, and nothing in a study directory that others may write
is unpickled by the driver.
"""
from __future__ import annotations

import json
from typing import Any

from ray.tune.search import Searcher

from study.engine.bo import METRIC
from study.engine.phases import PhasedScheduler
from study.engine.request import FINISHED, TrialRequest

REQUEST = "request"  # the key of the TrialRequest in Tune's trial config
ARTIFACTS = "artifacts"  # ... and of the URI under which a trial keeps its files (the study directory)


def request_of(config: dict[str, Any]) -> TrialRequest:
    return config[REQUEST]


class StudySearcher(Searcher):
    def __init__(self, scheduler: PhasedScheduler, artifacts: str | None = None) -> None:
        super().__init__(metric=METRIC, mode="min")
        self.scheduler, self.artifacts = scheduler, artifacts

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space comes from the study spec, not from Tune's param_space

    def suggest(self, trial_id: str) -> dict[str, Any] | None | str:
        got = self.scheduler.suggest(trial_id)
        if got == FINISHED:
            return Searcher.FINISHED
        if got is None:
            return None
        return {REQUEST: got} if self.artifacts is None else {REQUEST: got, ARTIFACTS: self.artifacts}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.scheduler.on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump(self.scheduler.state(), f)

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to take back: a new driver rebuilds the scheduler from the store and the journal."""
