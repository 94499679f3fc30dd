"""Trials per device-hour: summed paper steps/s of fused groups, CUDA graphs and packed processes.

A paper step is one batch-64 D step plus one G step (n_dis 1). Every figure is the training
loop's own rate, timed differentially (a run of S_short and one of S_long steps, one evaluation
each at the end, so setup and evaluation cancel), summed over the trials that ran at once:

- ``trial``: one trial as the trainable runs it, eager (``step_mode: eager``);
- ``graph``: one trial with its D and G steps captured as CUDA graphs (``step_mode: graph``);
- ``packed_<k>``: k trial processes at once on one device (Ray's fractional GPUs);
- ``fused_<n>``: one fused group of n members, member by member (``step_mode: eager``, what
  ``auto`` runs); on CUDA also ``fused_<n>_batched`` (vmap) and ``fused_<n>_graph`` (captured);
  ``fused_<n>_whole_speedup``: the whole S_long runs (setup and evaluation included), n trials
  one after another against the group (what sharing data and evaluator saves);
- baselines in the same command: ``plain``, a hand-written PyTorch loop of the same model; and
  ``batch_<64 n>``, that plain loop at the group's total batch (what fusing n trials can reach
  at best); on the CPU ``sequential_<n>``: the n trials one after another (= ``trial``).
- ``inception_<precision>_images_per_s``: the eager Inception network (random weights: the
  speed does not depend on them) on 32 px images resized to 299, on CUDA.

Models: SNDCGAN at 32 px with compare_gan's widths (``sndcgan``, width 1) and the ResNet CIFAR
(``resnet_cifar``), on the embedded digits rendered at 32 px in 3 channels (no dataset needed;
the step's cost does not depend on the pixels). On the CPU the defaults are cut (width 0.25,
short windows) and the CUDA-only figures are listed under ``needs_cuda``.

    python benchmarks/gpu_throughput.py [--members 10] [--packed 2,4,8] [--models sndcgan,resnet_cifar]
    python benchmarks/gpu_throughput.py --quick    # the CPU check in a few minutes: 4 members, width 0.125
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time

import torch
from train_throughput import _sync, plain_steps_per_s, trial_run_times, trial_steps_per_s  # this folder's baselines

from study.gan.config import TrialConfig
from study.gan.device import pick_device
from study.gan.training.loop import run_group

BASE = dict(dataset="digits", resolution=32, channels=3, d_norm="sn", loss="ns", batch_size=64, eval_samples=500,
            sample_grid=0)


def config(model: str, width: float, device: str, **kw) -> dict:
    """Trials on as many CPU threads as the plain loop (a trial sets torch's thread count)."""
    return {**BASE, "architecture": model, "width": width, "device": device, "threads": torch.get_num_threads(),
            **kw}


def _members(cfg: dict, n: int, steps: int) -> list[TrialConfig]:
    """n members of one model: the rates of a BO round (spread over Kurach et al.'s range) and seeds."""
    return [TrialConfig.from_dict({**cfg, "steps": steps, "eval_every": steps, "seed": i,
                                   "lr": 1e-4 * (1 + i % 5), "beta1": 0.5 if i % 2 else 0.0})
            for i in range(n)]


def run_times(run, short: int, long: int) -> tuple[float, float]:
    """Wall seconds of ``run(short)`` and ``run(long)`` (whose trials each train that many steps)."""
    times = []
    for steps in (short, long):
        t = time.perf_counter()
        run(steps)
        times.append(time.perf_counter() - t)
    return times[0], times[1]


def fused_run_times(cfg: dict, n: int, short: int, long: int) -> tuple[float, float]:
    return run_times(lambda s: run_group(_members(cfg, n, s), lambda *a: None), short, long)


def fused_rate(cfg: dict, n: int, short: int, long: int) -> float:
    """Loop steps per second summed over the group's n members."""
    t_short, t_long = fused_run_times(cfg, n, short, long)
    return n * (long - short) / (t_long - t_short)


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _packed_worker(cfg: dict, short: int, long: int, start, out) -> None:
    start.wait()
    out.put(trial_steps_per_s(cfg, short, long))


def packed_rate(cfg: dict, k: int, short: int, long: int) -> float:
    """k trial processes at once (spawned, as Ray's workers are), summed."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_packed_worker, args=(cfg, short, long, start, out)) for _ in range(k)]
    for p in procs:
        p.start()
    start.set()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def inception_rates(device: torch.device, n: int) -> dict[str, float]:
    from study.gan.metrics.extractors import InceptionPool3
    from study.gan.metrics.inception_net import FIDInceptionV3

    torch.manual_seed(0)
    net = FIDInceptionV3().to(device).eval()
    images = torch.rand(n, 3, 32, 32, device=device)
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        model = InceptionPool3(net, "tf_bilinear", dtype)
        for chunk in images[:500].split(500):
            model.features(chunk)
        _sync(device)
        t = time.perf_counter()
        for chunk in images.split(500):
            model.features(chunk)
        _sync(device)
        out[f"inception_{name}_images_per_s"] = round(n / (time.perf_counter() - t), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--packed", default="2,4,8")
    parser.add_argument("--models", default="sndcgan,resnet_cifar")
    parser.add_argument("--width", type=float, default=None, help="default: 1 on CUDA, 0.25 on the CPU")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--inception-images", type=int, default=10_000)
    parser.add_argument("--window", default="", help="S_short,S_long (default: 50,550 on CUDA, 10,60 on the CPU)")
    parser.add_argument("--quick", action="store_true", help="4 members, width 0.125, window 10,40")
    args = parser.parse_args()
    if args.quick:
        args.members, args.width, args.window = 4, args.width or 0.125, args.window or "10,40"
    device = pick_device(args.device)
    gpu = device.type == "cuda"
    width = args.width or (1.0 if gpu else 0.25)
    short, long = (tuple(int(x) for x in args.window.split(",")) if args.window
                   else (50, 550) if gpu else (10, 60))
    n = args.members
    figures: dict[str, object] = {"device": torch.cuda.get_device_name(device) if gpu else "cpu",
                                  "torch": torch.__version__, "width": width, "members": n,
                                  "threads": torch.get_num_threads()}
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    def med(fn) -> float:
        return round(statistics.median(fn() for _ in range(args.repeats)), 2)

    for model in args.models.split(","):
        cfg = config(model, width, args.device, step_mode="eager")
        f: dict[str, float] = {}
        f["plain"] = med(lambda: plain_steps_per_s(cfg, long - short))
        trial_t = medians([trial_run_times(cfg, short, long) for _ in range(args.repeats)])
        fused_t = medians([fused_run_times(cfg, n, short, long) for _ in range(args.repeats)])
        f["trial"] = round((long - short) / (trial_t[1] - trial_t[0]), 2)
        f[f"fused_{n}"] = round(n * (long - short) / (fused_t[1] - fused_t[0]), 2)
        # the whole S_long runs, setup and evaluation included: n trials one after another vs the group
        f[f"fused_{n}_whole_speedup"] = round(n * trial_t[1] / fused_t[1], 3)
        if gpu:
            f[f"batch_{64 * n}"] = med(lambda: plain_steps_per_s(cfg, (long - short) // n + 10, batch=64 * n))
            f["graph"] = med(lambda: trial_steps_per_s({**cfg, "step_mode": "graph"}, short, long))
            f[f"fused_{n}_batched"] = med(lambda: fused_rate({**cfg, "step_mode": "batched"}, n, short, long))
            f[f"fused_{n}_graph"] = med(lambda: fused_rate({**cfg, "step_mode": "graph"}, n, short, long))
            for k in (int(x) for x in args.packed.split(",") if x):
                f[f"packed_{k}"] = med(lambda: packed_rate(cfg, k, short, long))
            f[f"fused_{n}_vs_batch_ratio"] = round(f[f"fused_{n}_graph"] / f[f"batch_{64 * n}"], 3)
            f["graph_speedup"] = round(f["graph"] / f["trial"], 3)
        else:
            f[f"sequential_{n}"] = f["trial"]  # n trials one after another sum to one trial's rate
        f[f"fused_{n}_speedup"] = round(f[f"fused_{n}"] / f["trial"], 3)
        f["trial_vs_plain_ratio"] = round(f["trial"] / f["plain"], 3)
        for k, v in f.items():
            figures[f"{model}_{k}" + ("" if k.endswith(("ratio", "speedup")) else "_steps_per_s")] = v
        print(f"{model}: " + ", ".join(f"{k} {v}" for k, v in f.items()), flush=True)
    if gpu:
        figures.update(inception_rates(device, args.inception_images))
    else:
        figures["needs_cuda"] = ["graph", "packed_k", f"batch_{64 * n}", f"fused_{n}_graph", "inception_*"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
