"""One trial: build data and models from a TrialConfig, train, evaluate, report.

The trial knows nothing of Ray Tune: it calls ``report(row)`` at every evaluation with a
plain dict of metrics. A NaN or infinite loss ends the trial early with status ``diverged``
and the step it happened at; it never raises.
"""
from __future__ import annotations

import math
import socket
import time
from typing import Any, Callable

import torch

from study.config import TrialConfig
from study.data import load_dataset
from study.data.registry import to_range
from study.device import device_name, pick_device
from study.losses import LOSSES
from study.metrics.evaluator import FidEvaluator
from study.models import HEADS, build_models
from study.normalizers import NORMALIZERS
from study.penalties import PENALTIES

Report = Callable[[dict[str, Any]], None]
FINITE_CHECK_EVERY = 25  # steps between host syncs for the divergence check (exact step kept)


def sample_z(n: int, z_dim: int, dist: str, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    if dist == "normal":
        return torch.randn(n, z_dim, generator=gen, device=device)
    return torch.rand(n, z_dim, generator=gen, device=device) * 2.0 - 1.0


def run_trial(cfg: TrialConfig, report: Report) -> dict[str, Any]:
    """Train one GAN as ``cfg`` says; call ``report`` at each evaluation; return the last row."""
    start = time.perf_counter()
    device = pick_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)

    head = HEADS.get(cfg.g_head)
    data = load_dataset(cfg.dataset, cfg.resolution, cfg.channels)
    train = to_range(data.train, head.low, head.high).to(device)
    g, d = build_models(cfg.architecture, resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim,
                        width=cfg.width, d_norm=NORMALIZERS.get(cfg.d_norm), g_norm=NORMALIZERS.get(cfg.g_norm),
                        head=head)
    g, d = g.to(device), d.to(device)
    loss, penalty = LOSSES.get(cfg.loss), PENALTIES.get(cfg.penalty)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    evaluator = FidEvaluator(data, cfg.eval_split, cfg.feature_extractor, device, cfg.resolution, cfg.channels,
                             cfg.eval_samples)
    eval_z = evaluator.latents(cfg.z_dim, cfg.z_dist)
    common = {"device_name": device_name(device), "hostname": socket.gethostname(), "torch_version": torch.__version__,
              "feature_extractor": evaluator.extractor.name, "fid_samples": evaluator.samples,
              "fid_split": evaluator.split}

    step, best_fid = 0, math.inf
    last: dict[str, Any] = {}
    pending: list[tuple[int, torch.Tensor]] = []  # (step, finite flag) awaiting a host check
    d_val = g_val = torch.zeros((), device=device)
    n, bs = len(train), cfg.batch_size

    def emit(status: str, fid: float, error: str = "", final: bool = False) -> None:
        nonlocal last, best_fid
        if math.isfinite(fid):
            best_fid = min(best_fid, fid)
        last = {"step": step, "fid": fid, "best_fid": best_fid if math.isfinite(best_fid) else float("nan"),
                "d_loss": float(d_val.detach()), "g_loss": float(g_val.detach()), "status": status, "error": error,
                "is_final": final, "wall_time_s": time.perf_counter() - start, **common}
        report(last)

    def first_bad() -> int | None:
        if not pending:
            return None
        flags = torch.stack([f for _, f in pending]).cpu()
        steps = [s for s, _ in pending]
        pending.clear()
        bad = (~flags).nonzero()
        return steps[int(bad[0])] if len(bad) else None

    per_g = cfg.n_dis if cfg.step_unit == "discriminator" else 1  # counted steps per G iteration
    while step < cfg.steps:
        for _ in range(cfg.n_dis):
            real = train[torch.randint(0, n, (bs,), generator=gen, device=device)]
            with torch.no_grad():
                fake = g(sample_z(bs, cfg.z_dim, cfg.z_dist, gen, device))
            d_val = loss.d_loss(d(real), d(fake))
            if cfg.penalty != "none":
                d_val = d_val + cfg.penalty_lambda * penalty(d, real, fake, gen)
            opt_d.zero_grad(set_to_none=True)
            d_val.backward()
            opt_d.step()
        g_val = loss.g_loss(d(g(sample_z(bs, cfg.z_dim, cfg.z_dist, gen, device))))
        opt_g.zero_grad(set_to_none=True)
        g_val.backward()
        opt_g.step()
        prev, step = step, step + per_g
        pending.append((step, torch.isfinite(d_val.detach()) & torch.isfinite(g_val.detach())))

        crossed_eval = step // cfg.eval_every > prev // cfg.eval_every
        if crossed_eval or len(pending) >= FINITE_CHECK_EVERY or step >= cfg.steps:
            bad = first_bad()
            if bad is not None:
                step = bad
                emit("diverged", float("nan"), f"non-finite loss at step {bad}", final=True)
                return last
        if crossed_eval or step >= cfg.steps:
            fid = evaluator(g, eval_z, head.low, head.high).fid
            if not math.isfinite(fid):
                emit("diverged", fid, f"non-finite generator output at step {step}", final=True)
                return last
            emit("ok", fid, final=step >= cfg.steps)
    return last
