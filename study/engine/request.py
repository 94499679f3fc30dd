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
