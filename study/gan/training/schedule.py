"""The step clock of a trial: how many D steps precede each G step, how far training has gone,
when to evaluate and when to check for divergence on the host."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from study.gan.config import TrialConfig

FINITE_CHECK_EVERY = 25  # G iterations between host syncs for the divergence check (exact step kept)
IWGAN_CRITIC_WARMUP, IWGAN_CRITIC_STEPS, IWGAN_CRITIC_EVERY = 25, 50, 500


def sample_z(n: int, z_dim: int, dist: str, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Latents from the trial's own generator: N(0, I), or U[-1, 1] (compare_gan's default)."""
    if dist == "normal":
        return torch.randn(n, z_dim, generator=gen, device=device)
    return torch.rand(n, z_dim, generator=gen, device=device) * 2.0 - 1.0


def critic_steps(cfg: TrialConfig, g_iteration: int) -> int:
    """D steps before G step ``g_iteration`` (0-based). The iWGAN schedule (Gulrajani et al.
    2017 code; Mullery and Whelan): 50 for the first 25 G steps and at every 500th, else n_dis."""
    if cfg.n_dis_schedule == "iwgan" and (g_iteration < IWGAN_CRITIC_WARMUP or g_iteration % IWGAN_CRITIC_EVERY == 0):
        return IWGAN_CRITIC_STEPS
    return cfg.n_dis


def instance_noise_std(cfg: TrialConfig, step: int) -> float:
    """Linear decay from ``instance_noise`` at step 0 to 0 at ``instance_noise_steps``."""
    if cfg.instance_noise == 0.0:
        return 0.0
    horizon = cfg.instance_noise_steps or cfg.steps
    return cfg.instance_noise * max(0.0, 1.0 - step / horizon)


@dataclass
class Clock:
    """Where a group is: ``step`` (in ``step_unit``s) and G iterations done; shared by its members."""

    cfg: TrialConfig
    step: int = 0
    g_iter: int = 0
    checks: int = 0  # iterations since the last host check

    def advance(self, n_critic: int) -> int:
        """Count one G iteration after ``n_critic`` D steps; return the step before it."""
        prev = self.step
        self.g_iter += 1
        self.checks += 1
        self.step += n_critic if self.cfg.step_unit == "discriminator" else 1
        return prev

    def evaluates(self, prev: int) -> bool:
        """Whether the iteration from ``prev`` crossed an evaluation point or ended training."""
        return self.step // self.cfg.eval_every > prev // self.cfg.eval_every or self.done

    def checks_host(self, prev: int) -> bool:
        """Whether the divergence flags are read now: at evaluations, every FINITE_CHECK_EVERY, at the end."""
        return self.evaluates(prev) or self.checks >= FINITE_CHECK_EVERY

    @property
    def done(self) -> bool:
        return self.step >= self.cfg.steps
