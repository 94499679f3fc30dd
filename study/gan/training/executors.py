"""How a group's members take their steps. Three executors, one step:

- ``EagerSteps``: member by member, each with its own modules and ``torch.optim.Adam``
  (study/gan/training/step.py), each through a whole stretch (the iterations up to the next
  host check, between which members are independent) before the next, so that its weights and
  optimiser state stay in cache. The reference, and what ``auto`` runs on every device.
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
from study.gan.training.step import iterate

Tensor = torch.Tensor


Stretch = list[tuple[int, float, int]]  # iterations up to a host check: (n_critic, instance noise, step after)


class AccelerationFailed(RuntimeError):
    """A batched or captured step failed before it was trusted; the members are as before it.
    ``flags``: the finite flags of the stretch's iterations that had completed."""

    def __init__(self, message: str, flags: Tensor | None = None) -> None:
        super().__init__(message)
        self.flags = flags if flags is not None else torch.zeros(0, 0, dtype=torch.bool)


class Executor(Protocol):
    mode: str  # what the rows' step_mode_used says

    def iterations(self, plan: Stretch) -> Tensor:
        """Every live member through the stretch; (iterations, live members) finite flags."""

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

    def iterations(self, plan: Stretch) -> Tensor:
        """Each member through the whole stretch before the next (its state stays in cache)."""
        flags = [[_finite(m) for _ in iterate(self.shared, m, plan)] for m in self.live]
        return torch.stack([torch.stack(f) for f in flags], dim=1)

    def sync(self) -> None:
        pass

    def drop(self, keep: list[int]) -> None:
        self.live = [self.live[i] for i in keep]

    def close(self) -> None:
        self.live = []


def _finite(m: Member) -> Tensor:
    return torch.isfinite(m.d_val.detach()) & torch.isfinite(m.g_val.detach())
