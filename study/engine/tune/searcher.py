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
from study.engine.request import FINISHED, FusedRequest, TrialRequest, member_rows

REQUEST = "request"  # the key of the TrialRequest in Tune's trial config
ARTIFACTS = "artifacts"  # ... and of the URI under which a trial keeps its files (the study directory)


def request_of(config: dict[str, Any]) -> TrialRequest | FusedRequest:
    return config[REQUEST]


class StudySearcher(Searcher):
    """``fuse`` > 1: hand out up to that many trials of one model as one fused Tune trial
    (``PhasedScheduler.suggest_group``), whose members are told to the scheduler one by one."""

    def __init__(self, scheduler: PhasedScheduler, artifacts: str | None = None, fuse: int = 1) -> None:
        super().__init__(metric=METRIC, mode="min")
        self.scheduler, self.artifacts, self.fuse = scheduler, artifacts, fuse
        self.groups: dict[str, tuple[tuple[str, TrialRequest], ...]] = {}  # trial id -> (member id, request)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space comes from the study spec, not from Tune's param_space

    def suggest(self, trial_id: str) -> dict[str, Any] | None | str:
        if self.fuse > 1:
            got = self.scheduler.suggest_group(trial_id, self.fuse)
            if isinstance(got, list) and len(got) > 1:
                self.groups[trial_id] = tuple(got)
                got = FusedRequest(tuple(req for _, req in got))
            elif isinstance(got, list):  # nothing alike to fuse with: a trial of its own, under its member id
                self.groups[trial_id] = tuple(got)
                got = got[0][1]
        else:
            got = self.scheduler.suggest(trial_id)
        if got == FINISHED:
            return Searcher.FINISHED
        if got is None:
            return None
        return {REQUEST: got} if self.artifacts is None else {REQUEST: got, ARTIFACTS: self.artifacts}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        group = self.groups.pop(trial_id, None)
        if group is None:
            self.scheduler.on_trial_complete(trial_id, result, error)
            return
        if len(group) == 1:
            self.scheduler.on_trial_complete(group[0][0], result, error)
            return
        # Each member as its own trial: its last row; a member with a final row did not fail
        # with the group (an error after it finished).
        rows = {req.trial_key: row for req, row in
                member_rows(FusedRequest(tuple(r for _, r in group)), result or {}, new_only=False)}
        for member_id, req in group:
            row = rows.get(req.trial_key)
            final = bool(row and row.get("is_final"))
            self.scheduler.on_trial_complete(member_id, row, error and not final)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump(self.scheduler.state(), f)

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to take back: a new driver rebuilds the scheduler from the store and the journal."""
