"""A typed trial request: what the engine asks a worker to run, and how its rows are labelled.

Built by the phase schedulers (study/engine/phases.py, study/engine/bo.py), carried to the
worker inside Ray Tune's trial config, and read back by the store callback: the one place
where a trial's phase, model, key and BO round live next to its TrialConfig.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from study.gan.config import TrialConfig

PHASES = ("grid", "bo", "seeds")
FINISHED = "FINISHED"  # a scheduler's answer once every trial has been handed out (Tune's Searcher.FINISHED)


@dataclass(frozen=True)
class TrialRequest:
    phase: str  # grid | bo | seeds
    model: str  # the factor combination, e.g. "d_norm=sn,loss=ns"
    trial_key: str  # stable identity: the config, the study, the phase (and the BO slot)
    config: TrialConfig
    bo_round: int | None = None

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase: invalid value {self.phase!r}; allowed: {', '.join(PHASES)}")

    @classmethod
    def make(cls, study: str, phase: str, model: str, config: TrialConfig, threads: int = 1,
             bo_round: int | None = None, key_context: tuple[str, ...] = ()) -> "TrialRequest":
        """The key is taken before ``threads`` is set: execution-only settings never change it."""
        key = config.key(study, phase, *key_context)
        return cls(phase, model, key, dataclasses.replace(config, threads=threads), bo_round)

    def identity(self, study: str) -> dict[str, Any]:
        """The identity columns of this trial's result rows."""
        return {"study": study, "phase": self.phase, "bo_round": self.bo_round, "model": self.model,
                "trial_key": self.trial_key}

    def columns(self, study: str) -> dict[str, Any]:
        """Identity and config columns: everything of a row that the request fixes."""
        return {**self.identity(study), **self.config.to_dict()}


@dataclass(frozen=True)
class FusedRequest:
    """Trials of one model that a worker trains together as one fused group (study/gan/fused/):
    one Ray Tune trial, whose reports carry each member's row under ``MEMBERS``, every member
    still its own trial in the store and in Optuna."""

    members: tuple[TrialRequest, ...]

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError("fused request: a group needs at least two members")


MEMBERS = "members"  # a fused group's report: the members' rows, each with its trial_key and NEW
NEW = "new"  # ... true for the rows this report adds (the others repeat a member's last row)


def requests_of(request: "TrialRequest | FusedRequest") -> tuple[TrialRequest, ...]:
    """The trials behind a request: itself, or a fused group's members."""
    return request.members if isinstance(request, FusedRequest) else (request,)


def member_rows(request: "TrialRequest | FusedRequest", result: dict[str, Any],
                new_only: bool = True) -> list[tuple[TrialRequest, dict[str, Any]]]:
    """(trial, row) pairs of one report: the report itself for a single trial; for a fused group
    each member's row in it (only those it adds, with ``new_only``)."""
    if not isinstance(request, FusedRequest):
        return [(request, result)]
    by_key = {r.trial_key: r for r in request.members}
    return [(by_key[row["trial_key"]], row) for row in result.get(MEMBERS, [])
            if row.get("trial_key") in by_key and (row.get(NEW) or not new_only)]
