"""Training-loop throughput of the trial against a plain hand-written PyTorch loop.

Same model, batch, optimiser, loss and device, in the same process. The trial is timed
differentially: two runs of ``run_trial`` with S_short and S_long steps (one evaluation each,
at the end), so setup and evaluation cancel and (S_long - S_short) / (t_long - t_short) is the
loop's steps per second. The baseline is a bare loop over the same models (built by the same
registry, so the networks are identical), NS loss, Adam, fresh batches by random indexing.
Each figure is the median of ``--repeats`` interleaved (plain, trial) pairs; the ratio is the
median of the pairs' ratios.

    python benchmarks/train_throughput.py [--repeats 3] [--device auto]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from study.gan.config import TrialConfig
from study.gan.data import load_dataset
from study.gan.data.registry import to_range
from study.gan.device import pick_device
from study.gan.models import HEADS, ModelOptions, build_models
from study.gan.normalizers import NORMALIZERS
from study.gan.trial import run_trial

CASES = {
    "dcgan16_demo": dict(architecture="dcgan", resolution=16, width=0.25, z_dim=32, d_norm="none"),
    "sndcgan32": dict(architecture="sndcgan", resolution=32, width=0.25, z_dim=128, channels=3, d_norm="sn"),
}
# Differential windows (S_short, S_long) on the CPU: long enough that the loop's time dominates
# the run-to-run noise of setup and evaluation (with 200 steps of the demo DCGAN, ~3 s, that noise
# alone moved the ratio between 0.75 and 1.0 on a quiet machine); on CUDA (100, 1100) for all.
CPU_WINDOWS = {"dcgan16_demo": (20, 620), "sndcgan32": (20, 220)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def trial_run_times(cfg: dict, short: int, long: int) -> tuple[float, float]:
    """Wall seconds of a whole trial of ``short`` and of ``long`` steps (setup and one evaluation each)."""
    times = []
    for steps in (short, long):
        c = TrialConfig.from_dict({**cfg, "steps": steps, "eval_every": steps, "eval_samples": 500})
        t = time.perf_counter()
        run_trial(c, lambda row: None)
        times.append(time.perf_counter() - t)
    return times[0], times[1]


def trial_steps_per_s(cfg: dict, short: int, long: int) -> float:
    t_short, t_long = trial_run_times(cfg, short, long)
    return (long - short) / (t_long - t_short)


def plain_steps_per_s(cfg: dict, steps: int, warmup: int = 10, batch: int | None = None) -> float:
    """A hand-written loop of the same networks; ``batch`` (default: the config's) larger than 64
    is counted in batch-64 steps (batch / 64 per iteration), as a fused group's total batch."""
    c = TrialConfig.from_dict(cfg)
    device = pick_device(c.device)
    torch.manual_seed(0)
    head = HEADS.get(c.g_head)
    data = to_range(load_dataset(c.dataset, c.resolution, c.channels).train, head.low, head.high).to(device)
    g, d = build_models(c.architecture, ModelOptions(resolution=c.resolution, channels=c.channels, z_dim=c.z_dim,
                                                     width=c.width, d_norm=NORMALIZERS.get(c.d_norm),
                                                     g_norm=NORMALIZERS.get(c.g_norm), head=head))
    g, d = g.to(device), d.to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
    bs = batch or c.batch_size

    def step() -> None:
        real = data[torch.randint(0, len(data), (bs,), device=device)]
        with torch.no_grad():
            fake = g(torch.randn(bs, c.z_dim, device=device))
        d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-d(g(torch.randn(bs, c.z_dim, device=device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

    for _ in range(warmup):
        step()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * (bs / 64 if batch else 1) / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--extra", action="store_true", help="on CUDA, also bf16 and channels-last variants")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    gpu = device.type == "cuda"
    figures: dict[str, float | str] = {"device": str(device), "threads": args.threads}
    for name, case in CASES.items():
        short, long = (100, 1100) if gpu else CPU_WINDOWS[name]
        cfg = {**case, "device": args.device, "threads": args.threads, "batch_size": 64}
        # Interleaved pairs, so that a drift of the machine's speed hits both sides of a ratio.
        pairs = [(plain_steps_per_s(cfg, long - short), trial_steps_per_s(cfg, short, long))
                 for _ in range(args.repeats)]
        plain = statistics.median(p for p, _ in pairs)
        trial = statistics.median(t for _, t in pairs)
        ratio = statistics.median(t / p for p, t in pairs)
        figures[f"{name}_plain_steps_per_s"] = round(plain, 2)
        figures[f"{name}_trial_steps_per_s"] = round(trial, 2)
        figures[f"{name}_ratio"] = round(ratio, 3)
        print(f"{name}: plain {plain:.1f} steps/s, trial {trial:.1f} steps/s, ratio {ratio:.3f} "
              f"(median of {args.repeats} interleaved pairs)", flush=True)
        if gpu and args.extra:
            for variant, extra in (("bf16", {"precision": "bf16"}), ("channels_last", {"channels_last": True}),
                                   ("bf16_channels_last", {"precision": "bf16", "channels_last": True})):
                v = statistics.median(trial_steps_per_s({**cfg, **extra}, short, long) for _ in range(args.repeats))
                figures[f"{name}_trial_{variant}_steps_per_s"] = round(v, 2)
                figures[f"{name}_{variant}_speedup"] = round(v / trial, 3)
                print(f"{name} {variant}: {v:.1f} steps/s ({v / trial:.2f}x fp32)", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
