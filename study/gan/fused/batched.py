"""The batched executor: a group's members stepped at once as stacked networks under vmap.

Member i's networks are row i of stacked tensors (``Stacked``), its Adam is row i of a
``StackedAdam``, its EMA row i of stacked copies; its batches, latents and penalty points come
from its own generator in the order of study/gan/training/step.py. The losses, the penalty's
points and its slopes are the same functions the eager step calls, batched. Only what
``grouping.unbatchable`` allows runs here (no tricks that draw from torch's global stream or
keep per-member state outside the networks, no bf16).

The members' own modules are the truth between accelerated stretches: ``sync`` copies the
stacks into them (rows, evaluations, checkpoints, and before each guarded iteration), and an
iteration that fails while guarded restores the members' generators to that copy and raises
``AccelerationFailed``; the loop then continues eagerly from exactly that state.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap

from study.gan.fused.adam import StackedAdam
from study.gan.fused.stacked import Stacked
from study.gan.penalties import PenaltyInputs, slope_penalty
from study.gan.training.build import Shared
from study.gan.training.executors import AccelerationFailed, Stretch
from study.gan.training.member import Member
from study.gan.training.schedule import sample_z

Tensor = torch.Tensor


class BatchedSteps:
    mode = "batched"
    GUARDED = 1  # iterations run under the guard before the batched step is trusted

    def __init__(self, shared: Shared, live: list[Member]) -> None:
        self.shared, self.live = shared, list(live)
        self.trusted = 0
        self._stack()

    def _stack(self) -> None:
        live, device = self.live, self.shared.device
        self.g, self.d = Stacked([m.g for m in live], True), Stacked([m.d for m in live], True)
        cfgs = [m.cfg for m in live]
        self.opt_g = StackedAdam(self.g.trainable_params(), [c.lr for c in cfgs], [c.beta1 for c in cfgs],
                                 [c.beta2 for c in cfgs])
        self.opt_d = StackedAdam(self.d.trainable_params(), [c.d_lr for c in cfgs], [c.beta1 for c in cfgs],
                                 [c.beta2 for c in cfgs])
        for row, m in enumerate(live):
            self.opt_g.load_member(row, m.g, m.opt_g.state_dict())
            self.opt_d.load_member(row, m.d, m.opt_d.state_dict())
        self.lam = torch.tensor([c.penalty_lambda for c in cfgs], device=device)
        self.ema = self.ema_count = None
        if live[0].g_eval is not None:
            self.ema = {n: torch.stack([dict(m.g_eval.module.state_dict())[n].detach() for m in live]).clone()
                        for n in {**self.g.params, **self.g.buffers}}
            self.ema_count = int(live[0].g_eval.n_averaged)
        self.d_val = torch.stack([m.d_val.detach() for m in live])
        self.g_val = torch.stack([m.g_val.detach() for m in live])

    # ---- the step -----------------------------------------------------------------------------
    def _draw(self, fn) -> Tensor:
        return torch.stack([fn(m) for m in self.live])

    def _penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        """Each member's penalty: slopes at its own points in one batched double backward, or a
        penalty of D's weights through a probe module."""
        head, pen = self.shared.head, self.shared.penalty
        if pen.points is not None:
            points = torch.stack([pen.points(real[row], fake[row], m.gen, head.low, head.high)
                                  for row, m in enumerate(self.live)])
            return slope_penalty(self.d, points, batch_dims=2)
        probe = _PenaltyProbe(self.d.template, pen)
        prefixed = {f"d.{n}": t for n, t in {**self.d.params, **self.d.buffers}.items()}
        return vmap(lambda state, r, f: functional_call(probe, state, (r, f)))(prefixed, real, fake)

    def d_step(self) -> None:
        s, cfg = self.shared, self.shared.cfg
        real = self._draw(lambda m: m.train.next(cfg.batch_size, m.gen))
        z = self._draw(lambda m: sample_z(cfg.batch_size, cfg.z_dim, cfg.z_dist, m.gen, s.device))
        with s.autocast():
            with torch.no_grad():
                fake = self.g(z)
            smoothing = cfg.label_smoothing
            d_val = vmap(lambda r, f: s.loss.d_loss(r, f, smoothing))(self.d(real), self.d(fake))
            if s.penalty.active:
                d_val = d_val + self.lam * self._penalty(real, fake).to(d_val.dtype)
        params = self.d.trainable_params()
        grads = torch.autograd.grad(d_val.sum(), list(params.values()))
        self.opt_d.step(dict(zip(params, grads)))
        self.d_val = d_val.detach()

    def g_step(self) -> None:
        s, cfg = self.shared, self.shared.cfg
        z = self._draw(lambda m: sample_z(cfg.batch_size, cfg.z_dim, cfg.z_dist, m.gen, s.device))
        with s.autocast():
            g_val = vmap(s.loss.g_loss)(self.d(self.g(z)))
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
        count advances per iteration (a captured G step is replayed without re-running Python)."""
        decay = self.shared.cfg.g_ema
        current = {**self.g.params, **self.g.buffers}
        for n, e in self.ema.items():
            c = current[n].detach()
            if self.ema_count == 0:
                e.copy_(c)
            elif e.is_floating_point():
                e.lerp_(c, 1 - decay)
            else:
                e.copy_(e * decay + c * (1 - decay))

    def _steps(self, n_critic: int) -> None:
        for _ in range(n_critic):
            self.d_step()
        self.g_step()

    def iterations(self, plan: Stretch) -> Tensor:
        """The stretch, one batched iteration at a time; a guarded one that fails raises with
        the flags of those before it."""
        flags: list[Tensor] = []
        for n_critic, noise, _ in plan:
            try:
                flags.append(self.iteration(n_critic, noise))
            except AccelerationFailed as e:
                e.flags = torch.stack(flags) if flags else e.flags
                raise
        return torch.stack(flags)

    def iteration(self, n_critic: int, noise: float) -> Tensor:
        if self.trusted >= self.GUARDED:
            self._steps(n_critic)
        else:
            self._guarded(lambda: self._steps(n_critic))
        if self.ema is not None:
            self.ema_count += 1
        return torch.isfinite(self.d_val) & torch.isfinite(self.g_val)

    def _guarded(self, work) -> None:
        """``work`` with the members synced first and restored (generators too) if it fails."""
        self.sync()
        saved = [m.gen.get_state() for m in self.live]
        try:
            work()
        except Exception as e:  # noqa: BLE001 - an accelerated step that fails falls back, never crashes
            for m, state in zip(self.live, saved):
                m.gen.set_state(state)
            raise AccelerationFailed(f"{self.mode} step failed ({type(e).__name__}: {e})") from e
        self.trusted += 1

    # ---- members ----------------------------------------------------------------------------------
    def sync(self) -> None:
        for row, m in enumerate(self.live):
            self.g.member(row, m.g)
            self.d.member(row, m.d)
            m.opt_g.load_state_dict(self.opt_g.member_state(row, m.g))
            m.opt_d.load_state_dict(self.opt_d.member_state(row, m.d))
            if self.ema is not None:
                m.g_eval.module.load_state_dict({n: self.ema[n][row] for n in m.g_eval.module.state_dict()})
                m.g_eval.n_averaged.fill_(self.ema_count)
            m.d_val, m.g_val = self.d_val[row].clone(), self.g_val[row].clone()

    def drop(self, keep: list[int]) -> None:
        index = torch.tensor(keep, device=self.shared.device)
        self.live = [self.live[i] for i in keep]
        self.g.keep(index)
        self.d.keep(index)
        self.opt_g.keep(index, self.g.trainable_params())
        self.opt_d.keep(index, self.d.trainable_params())
        self.lam = self.lam[index]
        self.d_val, self.g_val = self.d_val[index], self.g_val[index]
        if self.ema is not None:
            self.ema = {n: e[index].clone() for n, e in self.ema.items()}

    def close(self) -> None:
        self.live, self.g, self.d, self.opt_g, self.opt_d, self.ema = [], None, None, None, None, None


class _PenaltyProbe(nn.Module):
    """A penalty of D's weights (l2, ortho) as a module, so functional_call can run it per member."""

    def __init__(self, d: nn.Module, penalty) -> None:
        super().__init__()
        self.d, self.penalty = d, penalty

    def forward(self, real: Tensor, fake: Tensor) -> Tensor:
        return self.penalty(PenaltyInputs(self.d, real, fake))
