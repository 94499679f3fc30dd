"""A fused group: trials of one model trained together in one process, one batched step each.

Members share what ``grouping.fusion_key`` fixes and differ in learning rates, betas, lambda and
seed. Member i is built, seeded and fed exactly as ``run_trial`` would build and feed it alone:
its networks are initialised under ``torch.manual_seed(seed_i)``, its batches, latents and
penalty points come from its own generator in the same order, and its Adam uses its own lr and
betas (study/gan/fused/adam.py). Its losses therefore follow the solo trial's within float
rounding (tests/study/gan/test_fused.py checks 1e-4 relative over 20 steps).

Each member has its own rows, best FID, kept files and checkpoint (in the solo trial's format,
so a member's state resumes alone or in a group). A member whose loss turns non-finite is
reported ``diverged`` at the step it happened and leaves the stacks; the others go on.

``report(rows, states)`` is called once per event (an evaluation, or divergences found at a
host check) with one entry per member given at the start: its row, or None when it has
nothing new; ``states`` likewise (None unless ``checkpoints``).
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

from study.gan.artifacts import Artifacts
from study.gan.config import TrialConfig
from study.gan.data import DataOptions, load_dataset
from study.gan.data.loader import batches
from study.gan.device import pick_device
from study.gan.fused.adam import StackedAdam
from study.gan.fused.graphs import StepGraphs, graph_unsupported
from study.gan.fused.grouping import fusion_key, unfusable
from study.gan.fused.stacked import Stacked
from study.gan.losses import LOSSES
from study.gan.models import HEADS
from study.gan.penalties import PENALTIES, PenaltyInputs, slope_penalty
from study.gan.samples import grid_latents
from study.gan.trial import (FINITE_CHECK_EVERY, _deterministic, critic_steps, head_statistics, keep_files,
                             sample_z, trial_evaluator, trial_models, worker_columns)

Tensor = torch.Tensor
GroupReport = Callable[[list, list], None]  # report(rows, states): one entry (or None) per member


def check_group(cfgs: list[TrialConfig]) -> None:
    """A group is one model's trials: refuse anything else, naming the member and the field."""
    if not cfgs:
        raise ValueError("fused group: no members")
    for i, cfg in enumerate(cfgs):
        why = unfusable(cfg)
        if why:
            raise ValueError(f"fused group: member {i}: {why}")
        if fusion_key(cfg) != fusion_key(cfgs[0]):
            first, this = cfgs[0].to_dict(), cfg.to_dict()
            differ = next(k for k in first if first[k] != this[k] and k in this)
            raise ValueError(f"fused group: member {i} differs from member 0 in {differ} "
                             f"({this[differ]!r} vs {first[differ]!r}); only lr, lr_d, beta1, beta2, "
                             "penalty_lambda and seed may differ")


def run_group(cfgs: list[TrialConfig], report: GroupReport, states: list[dict[str, Any]] | None = None,
              checkpoints: bool = False, artifacts: list[Artifacts | None] | None = None,
              batched: bool | None = None) -> list[dict[str, Any]]:
    """Train ``cfgs`` as one fused group; return each member's last row (in ``cfgs``' order).

    ``batched``: the networks run as batched kernels under vmap (None: on CUDA, where a step is
    bound by launches) or member by member on views of the stacks (None: on the CPU, where it is
    bound by FLOPs and vmap's grouped convolutions ran at 0.85x of the members' own)."""
    cfgs = [c.validated() for c in cfgs]
    check_group(cfgs)
    if states is not None and len({(s["step"], s["g_iter"]) for s in states}) != 1:
        raise ValueError("fused group: members' states are at different steps; resume them alone or regroup")
    with _deterministic(cfgs[0].deterministic), contextlib.ExitStack() as stack:
        return _Group(cfgs, report, states, checkpoints, artifacts or [None] * len(cfgs), stack, batched).run()


@dataclass
class _Member:
    """What the group keeps of one member outside the stacks."""

    cfg: TrialConfig
    gen: torch.Generator
    artifacts: Artifacts | None
    best_fid: float = math.inf
    wall_offset: float = 0.0
    last: dict[str, Any] = field(default_factory=dict)


class _Group:
    def __init__(self, cfgs: list[TrialConfig], report: GroupReport, states: list[dict[str, Any]] | None,
                 checkpoints: bool, artifacts: list[Artifacts | None], stack: contextlib.ExitStack,
                 batched: bool | None = None) -> None:
        self.start = time.perf_counter()
        cfg = self.cfg = cfgs[0]
        self.report, self.checkpoints = report, checkpoints
        self.device = device = pick_device(cfg.device)
        if device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cfg.precision == "bf16" and device.type == "cuda"
                         else contextlib.nullcontext())
        self.head = head = HEADS.get(cfg.g_head)
        data = load_dataset(cfg.dataset, cfg.resolution, cfg.channels, DataOptions.from_config(cfg))
        self.train = batches(data.train, device, head.low, head.high, cfg.batch_size, cfg.seed)
        stack.callback(self.train.close)
        stats = head_statistics(data, head.low, head.high)
        gs, ds = [], []
        for c in cfgs:  # each member initialised as its solo trial is
            torch.manual_seed(c.seed)
            g, d = trial_models(c, head, stats)
            gs.append(g.to(device))
            ds.append(d.to(device))
        self.members = [_Member(c, torch.Generator(device=device).manual_seed(c.seed), a)
                        for c, a in zip(cfgs, artifacts)]
        self.live = list(range(len(cfgs)))  # stack row -> member index
        batched = device.type == "cuda" if batched is None else batched
        self.g, self.d = Stacked(gs, batched), Stacked(ds, batched)
        self.g_module = gs[0]  # a module to load a member into (evaluation, files, checkpoints)
        self.d_module = ds[0]
        del gs, ds
        self.ema = ({n: t.detach().clone() for n, t in {**self.g.params, **self.g.buffers}.items()}
                    if cfg.g_ema else None)
        self.ema_count = 0
        self.opt_g = StackedAdam(self.g.trainable_params(), [c.lr for c in cfgs], [c.beta1 for c in cfgs],
                                 [c.beta2 for c in cfgs])
        self.opt_d = StackedAdam(self.d.trainable_params(), [c.d_lr for c in cfgs], [c.beta1 for c in cfgs],
                                 [c.beta2 for c in cfgs])
        self.lam = torch.tensor([c.penalty_lambda for c in cfgs], device=device)
        self.loss, self.penalty = LOSSES.get(cfg.loss), PENALTIES.get(cfg.penalty)
        self.evaluator = trial_evaluator(cfg, data, device)
        self.eval_z = self.evaluator.latents(cfg.z_dim, cfg.z_dist)
        self.grid_z = (grid_latents(cfg.sample_grid, cfg.z_dim, cfg.z_dist, cfg.sample_seed)
                       if any(a is not None for a in artifacts) and cfg.sample_grid else None)
        self.common = worker_columns(device, self.evaluator, data, fused_members=len(cfgs))
        self.step, self.g_iter = 0, 0
        if states is not None:
            self._restore(states)
        self.common["restored_from_step"] = self.step
        self.d_val = self.g_val = torch.zeros(len(cfgs), device=device)
        self.graphs: StepGraphs | None = None  # set by run() when the step is captured

    # ---- checkpoints: each member's in the solo trial's format ------------------------------------
    def _restore(self, states: list[dict[str, Any]]) -> None:
        for row, state in enumerate(states):
            self.g.load_member(row, state["g"])
            self.d.load_member(row, state["d"])
            self.opt_g.load_member(row, self.g_module, state["opt_g"])
            self.opt_d.load_member(row, self.d_module, state["opt_d"])
            if self.ema is not None:
                for n, t in self.ema.items():
                    t[row].copy_(state["g_eval"][f"module.{n}"])
                self.ema_count = int(state["g_eval"]["n_averaged"])
            m = self.members[row]
            m.gen.set_state(state["gen"])
            m.best_fid, m.wall_offset = state["best_fid"], float(state.get("wall_time_s", 0.0))
        torch.set_rng_state(states[0]["torch_rng"])
        self.step, self.g_iter = states[0]["step"], states[0]["g_iter"]

    def _state(self, row: int) -> dict[str, Any]:
        m = self.members[self.live[row]]
        g_state, d_state = self.g.member_state(row), self.d.member_state(row)
        g_eval = None
        if self.ema is not None:
            g_eval = {"n_averaged": torch.tensor(self.ema_count, dtype=torch.long),
                      **{f"module.{n}": self.ema[n][row].clone() for n in g_state}}
        return {"g": g_state, "d": d_state,
                "opt_g": self.opt_g.member_state(row, self.g_module),
                "opt_d": self.opt_d.member_state(row, self.d_module),
                "g_eval": g_eval, "gen": m.gen.get_state(), "torch_rng": torch.get_rng_state(), "step": self.step,
                "best_fid": m.best_fid, "g_iter": self.g_iter, "wall_time_s": self._wall(m)}

    def _wall(self, m: _Member) -> float:
        return time.perf_counter() - self.start + m.wall_offset

    # ---- the batched step -------------------------------------------------------------------------
    def _draw(self, fn: Callable[[torch.Generator], Tensor]) -> Tensor:
        return torch.stack([fn(self.members[i].gen) for i in self.live])

    def _penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        """Each member's penalty value (live members, in stack order)."""
        head, pen = self.head, self.penalty
        if pen.points is not None:
            points = torch.stack([pen.points(real[row], fake[row], self.members[i].gen, head.low, head.high)
                                  for row, i in enumerate(self.live)])
            return slope_penalty(self.d, points, batch_dims=2)
        probe = _PenaltyProbe(self.d.template, pen)
        prefixed = {f"d.{n}": t for n, t in {**self.d.params, **self.d.buffers}.items()}
        return vmap(lambda state, r, f: functional_call(probe, state, (r, f)))(prefixed, real, fake)

    def _d_step(self) -> None:
        cfg, bs = self.cfg, self.cfg.batch_size
        real = self._draw(lambda gen: self.train.next(bs, gen))
        z = self._draw(lambda gen: sample_z(bs, cfg.z_dim, cfg.z_dist, gen, self.device))
        with self.autocast:
            with torch.no_grad():
                fake = self.g(z)
            smoothing = cfg.label_smoothing
            d_val = vmap(lambda r, f: self.loss.d_loss(r, f, smoothing))(self.d(real), self.d(fake))
            if self.penalty.active:
                d_val = d_val + self.lam * self._penalty(real, fake).to(d_val.dtype)
        params = self.d.trainable_params()
        grads = torch.autograd.grad(d_val.sum(), list(params.values()))
        self.opt_d.step(dict(zip(params, grads)))
        self.d_val = d_val.detach()

    def _g_step(self) -> None:
        cfg, bs = self.cfg, self.cfg.batch_size
        z = self._draw(lambda gen: sample_z(bs, cfg.z_dim, cfg.z_dist, gen, self.device))
        with self.autocast:
            g_val = vmap(self.loss.g_loss)(self.d(self.g(z)))
        params = self.g.trainable_params()
        grads = torch.autograd.grad(g_val.sum(), list(params.values()))
        self.opt_g.step(dict(zip(params, grads)))
        self.g_val = g_val.detach()
        if self.ema is not None:
            self._ema_update()

    @torch.no_grad()
    def _ema_update(self) -> None:
        """torch's AveragedModel(use_buffers=True) with get_ema_multi_avg_fn: a copy at the first
        update, then ema <- lerp(ema, current, 1 - decay) (integer buffers: rounded down). The
        count advances in ``run`` (a captured G step is replayed without re-running Python)."""
        decay = self.cfg.g_ema
        current = {**self.g.params, **self.g.buffers}
        for n, e in self.ema.items():
            c = current[n].detach()
            if self.ema_count == 0:
                e.copy_(c)
            elif e.is_floating_point():
                e.lerp_(c, 1 - decay)
            else:
                e.copy_(e * decay + c * (1 - decay))

    def _keep_rows(self, rows: list[int]) -> None:
        """Only these stack rows go on (the others diverged)."""
        index = torch.tensor(rows, device=self.device)
        self.live = [self.live[r] for r in rows]
        self.g.keep(index)
        self.d.keep(index)
        self.opt_g.keep(index, self.g.trainable_params())
        self.opt_d.keep(index, self.d.trainable_params())
        self.lam = self.lam[index]
        self.d_val, self.g_val = self.d_val[index], self.g_val[index]
        if self.ema is not None:
            self.ema = {n: e[index].clone() for n, e in self.ema.items()}
        if self.graphs is not None:
            self.graphs.reset()  # the captured steps read the old stacks

    # ---- rows -----------------------------------------------------------------------------------
    def _row(self, row: int, status: str, fid: float, error: str = "", final: bool = False,
             extra: dict | None = None, step: int | None = None) -> dict[str, Any]:
        m = self.members[self.live[row]]
        if math.isfinite(fid):
            m.best_fid = min(m.best_fid, fid)
        m.last = {"step": self.step if step is None else step, "fid": fid,
                  "best_fid": m.best_fid if math.isfinite(m.best_fid) else float("nan"),
                  "d_loss": float(self.d_val[row]), "g_loss": float(self.g_val[row]), "status": status,
                  "error": error, "is_final": final, "wall_time_s": self._wall(m), **self.common, **(extra or {})}
        return m.last

    def _emit(self, rows: dict[int, dict[str, Any]], states: dict[int, dict[str, Any]]) -> None:
        """One report for this event: stack row -> row (and state), as per-member lists."""
        n = len(self.members)
        out_rows: list = [None] * n
        out_states: list = [None] * n
        for row, r in rows.items():
            out_rows[self.live[row]] = r
            out_states[self.live[row]] = states.get(row)
        self.report(out_rows, out_states)

    def _evaluate(self) -> None:
        final = self.step >= self.cfg.steps
        rows, states, keep = {}, {}, []
        for row in range(len(self.live)):
            if self.ema is not None:
                self.g_module.load_state_dict({n: self.ema[n][row] for n in self.g_module.state_dict()})
                evaluated = self.g_module
            else:
                evaluated = self.g.member(row, self.g_module)
            result = self.evaluator(evaluated, self.eval_z, self.head.low, self.head.high, self.cfg.z_dim)
            if not math.isfinite(result.fid):
                rows[row] = self._row(row, "diverged", result.fid, f"non-finite generator output at step {self.step}",
                                      final=True)
                continue
            m = self.members[self.live[row]]
            keep_files(m.artifacts, m.cfg, evaluated, self.grid_z, self.head, result.fid, m.best_fid, self.step, final)
            rows[row] = self._row(row, "ok", result.fid, final=final, extra=result.extra)
            keep.append(row)
            if self.checkpoints and not final:
                states[row] = self._state(row)
        self._emit(rows, states)
        if len(keep) < len(self.live):
            self._keep_rows(keep)

    def _check_finite(self, pending: list[tuple[int, Tensor]]) -> bool:
        """The host check: members with a non-finite loss since the last check are reported
        diverged at their first bad step and leave the group. False once none is left."""
        flags = torch.stack([f for _, f in pending]).cpu()  # (checks, live members)
        steps = [s for s, _ in pending]
        pending.clear()
        bad = {row: steps[int((~flags[:, row]).nonzero()[0])] for row in range(flags.shape[1])
               if not bool(flags[:, row].all())}
        if not bad:
            return True
        rows = {row: self._row(row, "diverged", float("nan"), f"non-finite loss at step {s}", final=True, step=s)
                for row, s in bad.items()}
        self._emit(rows, {})
        self._keep_rows([r for r in range(len(self.live)) if r not in bad])
        return bool(self.live)

    def _step_graphs(self) -> StepGraphs | None:
        """CUDA graphs when the trial's ``step_mode`` asks for them (auto: on CUDA) and they can be
        tried here; a ``graph`` request that cannot be is warned about and runs eagerly."""
        mode = self.cfg.step_mode
        why = graph_unsupported(self.device, self.train)
        if mode == "eager" or (mode == "auto" and why):
            return None
        if why:
            warnings.warn(f"step_mode: graph: {why}; the training step runs eagerly", stacklevel=3)
            return None
        return StepGraphs(self._d_step, self._g_step)

    def _iteration(self, n_critic: int) -> None:
        graphs = self.graphs
        if graphs is not None and graphs.ready():
            try:
                graphs.capture([self.members[i].gen for i in self.live])
                self.common["step_mode_used"] = "graph"
            except Exception as e:  # noqa: BLE001 - an uncapturable step trains eagerly, never crashes
                warnings.warn(f"step_mode: CUDA graph capture failed ({type(e).__name__}: {e}); "
                              "the training step runs eagerly", stacklevel=2)
                self.graphs = graphs = None
                self.common["step_mode_used"] = "eager"
        if graphs is not None:
            graphs.iteration(n_critic)
        else:
            for _ in range(n_critic):
                self._d_step()
            self._g_step()
        self.ema_count += self.ema is not None

    def run(self) -> list[dict[str, Any]]:
        cfg = self.cfg
        pending: list[tuple[int, Tensor]] = []
        self.graphs = self._step_graphs()
        while self.step < cfg.steps and self.live:
            n_critic = critic_steps(cfg, self.g_iter)
            self._iteration(n_critic)
            self.g_iter += 1
            prev = self.step
            self.step += n_critic if cfg.step_unit == "discriminator" else 1
            pending.append((self.step, torch.isfinite(self.d_val) & torch.isfinite(self.g_val)))
            crossed_eval = self.step // cfg.eval_every > prev // cfg.eval_every
            if crossed_eval or len(pending) >= FINITE_CHECK_EVERY or self.step >= cfg.steps:
                if not self._check_finite(pending):
                    break
            if crossed_eval or self.step >= cfg.steps:
                self._evaluate()
        return [m.last for m in self.members]


class _PenaltyProbe(nn.Module):
    """A penalty of D's weights (l2, ortho) as a module, so functional_call can run it per member."""

    def __init__(self, d: nn.Module, penalty) -> None:
        super().__init__()
        self.d, self.penalty = d, penalty

    def forward(self, real: Tensor, fake: Tensor) -> Tensor:
        return self.penalty(PenaltyInputs(self.d, real, fake))
