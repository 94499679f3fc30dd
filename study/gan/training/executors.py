"""How a group's members take their steps. Three executors, one step:

- ``EagerSteps``: member by member, each with its own modules and ``torch.optim.Adam``
  (study/gan/training/step.py). The reference, and what ``auto`` runs on every device.
- ``BatchedSteps``: every member at once, as stacked networks under ``torch.func.vmap``
  (study/gan/fused/), for the configurations ``unbatchable`` allows; the same losses, penalty
  points and Adam, batched.
- ``GraphSteps``: ``BatchedSteps`` with its D and G steps captured as CUDA graphs
  (study/gan/fused/graphs.py).

An accelerated executor copies its state back into the members (``sync``) before every row,
evaluation and checkpoint, and before each of its first, guarded iterations; if one of those
fails it restores the members to that copy and raises ``AccelerationFailed``, and the loop goes
on with ``EagerSteps`` from the same member states.
"""
from __future__ import annotations

from typing import Protocol

import torch

from study.gan.training.build import Shared
from study.gan.training.member import Member
from study.gan.training.step import iteration

Tensor = torch.Tensor


class AccelerationFailed(RuntimeError):
    """A batched or captured step failed before it was trusted; the members are as before it."""


class Executor(Protocol):
    mode: str  # what the rows' step_mode_used says

    def iteration(self, n_critic: int, noise: float) -> Tensor:
        """``n_critic`` D steps and a G step of every live member; each member's finite flag."""

    def sync(self) -> None:
        """Each member's modules, optimisers, EMA and last losses hold its current state."""

    def drop(self, keep: list[int]) -> None:
        """Only the members at these positions of the live list go on."""

    def close(self) -> None:
        """Release what the executor holds (stacks, graphs, their memory)."""


class EagerSteps:
    """Each live member's step in turn, on the member's own modules."""

    mode = "eager"

    def __init__(self, shared: Shared, live: list[Member]) -> None:
        self.shared, self.live = shared, list(live)

    def iteration(self, n_critic: int, noise: float) -> Tensor:
        for m in self.live:
            iteration(self.shared, m, n_critic, noise)
        return torch.stack([torch.isfinite(m.d_val.detach()) & torch.isfinite(m.g_val.detach()) for m in self.live])

    def sync(self) -> None:
        pass

    def drop(self, keep: list[int]) -> None:
        self.live = [self.live[i] for i in keep]

    def close(self) -> None:
        self.live = []
