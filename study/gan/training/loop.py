"""The training loop: one for every trial, alone or in a fused group, on every device.

``run_group(cfgs, report)`` trains one model's trials together (``run_trial`` is a group of
one). The loop owns the step clock, the host checks for divergence, the evaluations, the rows
and the checkpoints; an executor (study/gan/training/executors.py) owns how the members step.
A member whose loss turns non-finite is reported ``diverged`` at the step it happened and leaves
the group; the others go on.

``report(rows, states)`` is called once per event (an evaluation, or divergences found at a host
check) with one entry per member given at the start: its row, or None when it has nothing new;
``states`` likewise (None unless ``checkpoints``): each a solo trial's checkpoint.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from typing import Any, Callable

import torch

from study.gan.artifacts import Artifacts
from study.gan.config import TrialConfig
from study.gan.fused.batched import BatchedSteps
from study.gan.fused.graphs import GraphSteps, graph_unsupported
from study.gan.fused.grouping import check_group, unbatchable
from study.gan.training.build import Shared, build_shared, keep_files
from study.gan.training.executors import AccelerationFailed, EagerSteps, Executor, Stretch
from study.gan.training.member import Member, build_member
from study.gan.training.schedule import Clock, critic_steps, instance_noise_std

GroupReport = Callable[[list, list], None]  # report(rows, states): one entry (or None) per member


@contextlib.contextmanager
def deterministic(enabled: bool):
    """torch's deterministic-algorithms switch is process-wide: set it for the trial, then restore."""
    before = torch.are_deterministic_algorithms_enabled()
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled or before)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def run_group(cfgs: list[TrialConfig], report: GroupReport, states: list[dict[str, Any]] | None = None,
              checkpoints: bool = False, artifacts: list[Artifacts | None] | None = None) -> list[dict[str, Any]]:
    """Train ``cfgs`` (one model's trials) as one group; return each member's last row, in order."""
    cfgs = [c.validated() for c in cfgs]
    check_group(cfgs)
    if states is not None and len({(s["step"], s["g_iter"]) for s in states}) != 1:
        raise ValueError("fused group: members' states are at different steps; resume them alone or regroup")
    with deterministic(cfgs[0].deterministic), contextlib.ExitStack() as stack:
        loop = _Loop(cfgs, report, states, checkpoints, artifacts or [None] * len(cfgs), stack)
        try:
            return loop.run()
        finally:
            loop.close()


def choose_executor(shared: Shared, live: list[Member]) -> Executor:
    """What ``step_mode`` asks for, where it can run: ``auto`` and ``eager`` step member by member
    (``auto`` stays there until the accelerated paths have passed their tests on a GPU)."""
    mode, cfg = shared.cfg.step_mode, shared.cfg
    if mode in ("auto", "eager"):
        return EagerSteps(shared, live)
    why = unbatchable(cfg) or (graph_unsupported(shared.device, shared.train) if mode == "graph" else "")
    if why and mode == "graph" and not unbatchable(cfg):
        warnings.warn(f"step_mode: graph: {why}; the batched step runs uncaptured", stacklevel=3)
        return BatchedSteps(shared, live)
    if why:
        warnings.warn(f"step_mode: {mode}: {why}; the members step one by one", stacklevel=3)
        return EagerSteps(shared, live)
    return GraphSteps(shared, live) if mode == "graph" else BatchedSteps(shared, live)


class _Loop:
    def __init__(self, cfgs: list[TrialConfig], report: GroupReport, states: list[dict[str, Any]] | None,
                 checkpoints: bool, artifacts: list[Artifacts | None], stack: contextlib.ExitStack) -> None:
        self.started = time.perf_counter()
        self.report, self.checkpoints, self.cfg = report, checkpoints, cfgs[0]
        self.shared = build_shared(cfgs[0], stack, members=len(cfgs), keep_grids=any(a is not None for a in artifacts))
        self.members = [build_member(self.shared, c, a, first=i == 0, swap_rng=len(cfgs) > 1)
                        for i, (c, a) in enumerate(zip(cfgs, artifacts))]
        self.clock = Clock(self.cfg)
        if states is not None:
            self._restore(states)
        self.common = {**self.shared.common, "restored_from_step": self.clock.step}
        self.live = list(self.members)
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, live members' finite flags) to check
        self.executor = choose_executor(self.shared, self.live)

    def _restore(self, states: list[dict[str, Any]]) -> None:
        for m, state in zip(self.members, states):
            m.load(state)
        self.clock.step, self.clock.g_iter = states[0]["step"], states[0]["g_iter"]

    def close(self) -> None:
        """Drop what the group holds, so its memory is freed when run_group returns."""
        self.executor.close()
        self.live, self.pending = [], []

    # ---- stepping ---------------------------------------------------------------------------------
    def _stretch(self) -> tuple[Stretch, bool]:
        """The iterations up to and including the next host check (the clock advanced past them),
        and whether the last one reaches an evaluation. Members are independent in between."""
        clock, plan = self.clock, []
        while True:
            n_critic = critic_steps(self.cfg, clock.g_iter)
            noise = instance_noise_std(self.cfg, clock.step)
            prev = clock.advance(n_critic)
            plan.append((n_critic, noise, clock.step))
            if clock.checks_host(prev):
                return plan, clock.evaluates(prev)

    def _steps(self, plan: Stretch) -> torch.Tensor:
        """Every live member through ``plan``; (iterations, live members) finite flags."""
        try:
            flags = self.executor.iterations(plan)
        except AccelerationFailed as e:
            warnings.warn(f"step_mode: {self.cfg.step_mode}: {e}; the members continue one by one", stacklevel=2)
            self.executor.close()
            self.executor = EagerSteps(self.shared, self.live)
            rest = self.executor.iterations(plan[len(e.flags):])
            flags = torch.cat([e.flags.to(rest.device), rest]) if len(e.flags) else rest
        self.common["step_mode_used"] = self.executor.mode
        return flags

    def run(self) -> list[dict[str, Any]]:
        while not self.clock.done and self.live:
            plan, evaluates = self._stretch()
            flags = self._steps(plan)
            self.pending = [(step, f) for (_, _, step), f in zip(plan, flags)]
            if not self._host_check():
                break
            if evaluates:
                self._evaluate()
        return [m.last for m in self.members]

    # ---- rows -------------------------------------------------------------------------------------
    def _row(self, m: Member, status: str, fid: float, error: str = "", final: bool = False,
             extra: dict | None = None, step: int | None = None) -> dict[str, Any]:
        if math.isfinite(fid):
            m.best_fid = min(m.best_fid, fid)
        m.last = {"step": self.clock.step if step is None else step, "fid": fid,
                  "best_fid": m.best_fid if math.isfinite(m.best_fid) else float("nan"),
                  "d_loss": float(m.d_val.detach()), "g_loss": float(m.g_val.detach()), "status": status,
                  "error": error, "is_final": final, "wall_time_s": m.wall(self.started), **self.common,
                  **(extra or {})}
        return m.last

    def _emit(self, rows: dict[int, dict[str, Any]], states: dict[int, dict[str, Any]]) -> None:
        """One report for this event (live position -> row, state), as per-member lists."""
        index = {id(m): i for i, m in enumerate(self.members)}
        out_rows: list = [None] * len(self.members)
        out_states: list = [None] * len(self.members)
        for pos, row in rows.items():
            out_rows[index[id(self.live[pos])]] = row
            out_states[index[id(self.live[pos])]] = states.get(pos)
        self.report(out_rows, out_states)

    def _leave(self, gone: set[int]) -> None:
        keep = [pos for pos in range(len(self.live)) if pos not in gone]
        if len(keep) < len(self.live):
            self.executor.drop(keep)
            self.live = [self.live[pos] for pos in keep]

    # ---- host checks and evaluations --------------------------------------------------------------
    def _host_check(self) -> bool:
        """Members with a non-finite loss since the last check are reported diverged at their first
        bad step and leave the group. False once none is left."""
        flags = torch.stack([f for _, f in self.pending]).cpu()  # (checks, live members)
        steps = [s for s, _ in self.pending]
        self.pending, self.clock.checks = [], 0
        bad = {pos: steps[int((~flags[:, pos]).nonzero()[0])] for pos in range(flags.shape[1])
               if not bool(flags[:, pos].all())}
        if bad:
            self.executor.sync()
            rows = {pos: self._row(self.live[pos], "diverged", float("nan"), f"non-finite loss at step {s}",
                                   final=True, step=s) for pos, s in bad.items()}
            self._emit(rows, {})
            self._leave(set(bad))
        return bool(self.live)

    def _evaluate(self) -> None:
        self.executor.sync()
        final, sh = self.clock.done, self.shared
        rows, states, gone = {}, {}, set()
        for pos, m in enumerate(self.live):
            with m.own_rng():
                result = sh.evaluator(m.evaluated, sh.eval_z, sh.head.low, sh.head.high, self.cfg.z_dim,
                                      labels=sh.evaluator.eval_labels)
            if not math.isfinite(result.fid):
                rows[pos] = self._row(m, "diverged", result.fid,
                                      f"non-finite generator output at step {self.clock.step}", final=True)
                gone.add(pos)
                continue
            keep_files(m.artifacts, m.cfg, m.evaluated, sh.grid_z, sh.head, result.fid, m.best_fid,
                       self.clock.step, final)
            rows[pos] = self._row(m, "ok", result.fid, final=final, extra=result.extra)
            if self.checkpoints and not final:
                states[pos] = m.state(self.clock.step, self.clock.g_iter, self.started)
        self._emit(rows, states)
        self._leave(gone)
