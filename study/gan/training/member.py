"""One member of a group: a trial's own state, and its checkpoint in the solo trial's format.

A member owns its networks, its two ``torch.optim.Adam``s, its EMA of G (torch's
``AveragedModel``), its historical averages, its training batches' generator and, in a group of
several, its own copy of torch's global random state (G's dropout draws from it), swapped in
around everything the member computes. A member of any group therefore computes exactly what
the same trial computes alone.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from study.gan.artifacts import Artifacts
from study.gan.config import TrialConfig
from study.gan.training.build import Batches, Shared, trial_models
from study.gan.tricks import HistoricalAverage


@dataclass(eq=False)
class Member:
    cfg: TrialConfig
    g: nn.Module
    d: nn.Module
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    g_eval: AveragedModel | None
    hist: tuple[HistoricalAverage, HistoricalAverage] | None
    gen: torch.Generator
    train: Batches
    artifacts: Artifacts | None
    rng: dict[str, torch.Tensor] | None  # the member's global random state, when it is swapped
    best_fid: float = math.inf
    wall_offset: float = 0.0
    d_val: torch.Tensor = field(default_factory=lambda: torch.zeros(()))
    g_val: torch.Tensor = field(default_factory=lambda: torch.zeros(()))
    last: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluated(self) -> nn.Module:
        """The generator that evaluations and kept files use: G, or its EMA."""
        return self.g_eval.module if self.g_eval is not None else self.g

    @contextlib.contextmanager
    def own_rng(self) -> Iterator[None]:
        """Torch's global random state is this member's while inside (a no-op for a group of one)."""
        if self.rng is None:
            yield
            return
        torch.set_rng_state(self.rng["cpu"])
        if "cuda" in self.rng:
            torch.cuda.set_rng_state(self.rng["cuda"])
        try:
            yield
        finally:
            self.rng = _global_rng()

    def torch_rng(self) -> torch.Tensor:
        return self.rng["cpu"] if self.rng is not None else torch.get_rng_state()

    def state(self, step: int, g_iter: int, started: float) -> dict[str, Any]:
        """The solo trial's checkpoint, a copy: from it ``run_trial(..., state=)`` continues exactly."""
        hist = {"hist_d": self.hist[0].state_dict(), "hist_g": self.hist[1].state_dict()} if self.hist else {}
        return copy.deepcopy({"g": self.g.state_dict(), "d": self.d.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(),
                "g_eval": self.g_eval.state_dict() if self.g_eval is not None else None,
                "gen": self.gen.get_state(), "torch_rng": self.torch_rng(), "step": step, "best_fid": self.best_fid,
                "g_iter": g_iter, "wall_time_s": self.wall(started), **hist})

    def load(self, state: dict[str, Any]) -> None:
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.g_eval is not None:
            self.g_eval.load_state_dict(state["g_eval"])
        if self.hist is not None:
            self.hist[0].load_state_dict(state["hist_d"])
            self.hist[1].load_state_dict(state["hist_g"])
        self.gen.set_state(state["gen"])
        if self.rng is not None:
            self.rng["cpu"] = state["torch_rng"]
        else:
            torch.set_rng_state(state["torch_rng"])
        self.best_fid = state["best_fid"]
        self.wall_offset = float(state.get("wall_time_s", 0.0))  # wall_time_s counts the compute before a retry

    def wall(self, started: float) -> float:
        return time.perf_counter() - started + self.wall_offset


def _global_rng() -> dict[str, torch.Tensor]:
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state()
    return rng


def build_member(shared: Shared, cfg: TrialConfig, artifacts: Artifacts | None, *, first: bool,
                 swap_rng: bool) -> Member:
    """Member ``cfg`` built, seeded and placed as its solo trial builds it."""
    device, fmt = shared.device, shared.memory_format
    torch.manual_seed(cfg.seed)
    g, d = trial_models(cfg, shared.head, shared.head_stats, shared.classes, shared.z_ref)
    g, d = g.to(device, memory_format=fmt), d.to(device, memory_format=fmt)
    g_eval = AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(cfg.g_ema), use_buffers=True) if cfg.g_ema else None
    opt_g = torch.optim.Adam([p for p in g.parameters() if p.requires_grad], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.d_lr, betas=(cfg.beta1, cfg.beta2))
    hist = (HistoricalAverage(d), HistoricalAverage(g)) if cfg.historical_averaging else None
    return Member(cfg=cfg, g=g, d=d, opt_g=opt_g, opt_d=opt_d, g_eval=g_eval, hist=hist,
                  gen=torch.Generator(device=device).manual_seed(cfg.seed), train=shared.batches_for(cfg, first),
                  artifacts=artifacts, rng=_global_rng() if swap_rng else None,
                  d_val=torch.zeros((), device=device), g_val=torch.zeros((), device=device))
