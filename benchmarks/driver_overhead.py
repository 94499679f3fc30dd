"""Driver overhead and packed-trial throughput on one machine.

1. No-op trials: the full driver (spec -> Ray Tune -> store callback writing Parquet after
   every report) with a trainable that reports one final row and returns. Figures: trials per
   second, and the slot-seconds each trial costs (wall * slots / trials): the overhead a real
   trial pays on top of its own work.
2. Packed real trials: N small GAN trials run by the driver on all CPU slots (1 CPU each),
   against the same N trials run one after another by ``run_trial`` in this process (a plain
   loop, warm caches). ``packed_speedup`` = loop time / driver time; the ideal is the number of
   slots. The same trials in a plain process pool of ``slots`` processes (no Ray) give the
   machine's own ceiling for running them side by side; ``packed_vs_process_pool_ratio`` is
   the driver's share of it.

    python benchmarks/driver_overhead.py [--noop 60] [--trials 8] [--steps 600]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import yaml

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


def noop_trainable(config):
    from ray import tune

    tune.report({"step": 1, "fid": 1.0, "best_fid": 1.0, "status": "ok", "error": "", "is_final": True,
                 "wall_time_s": 0.0})


def _one(cfg_dict: dict) -> None:
    from study.config import TrialConfig
    from study.trial import run_trial

    run_trial(TrialConfig.from_dict(cfg_dict), lambda row: None)


def study(name: str, models: int, seeds: int, steps: int) -> dict:
    losses = ["ns", "wgan", "hinge", "ls", "mm", "ls_sigmoid"][:models]
    return {"name": name, "factors": {"loss": losses},
            "trial": {"resolution": 8, "width": 0.25, "z_dim": 16, "batch_size": 32, "steps": steps,
                      "eval_every": steps, "eval_samples": 300},
            "grid": {"preset": "kurach2019", "select": [1], "seeds": list(range(seeds))},
            "resources": {"cpu": 1}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noop", type=int, default=60)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    import ray

    from study.driver import run_study
    from study.spec import parse_spec
    from study.trial import run_trial

    slots = os.cpu_count() or 1
    ray.init(address="local", num_cpus=slots, include_dashboard=False, log_to_driver=False, configure_logging=False)
    quiet = lambda *a, **k: None  # noqa: E731
    figures: dict[str, float] = {"slots": slots}
    with tempfile.TemporaryDirectory() as tmp:
        noop = study("noop", 6, args.noop // 6, 10)
        t = time.perf_counter()
        run_study(parse_spec(noop), yaml.safe_dump(noop), f"{tmp}/noop", log=quiet, trainable=noop_trainable)
        wall = time.perf_counter() - t
        n = 6 * (args.noop // 6)
        figures.update(noop_trials=n, noop_wall_s=round(wall, 2), noop_trials_per_s=round(n / wall, 2),
                       overhead_per_trial_s=round(wall * slots / n, 3))
        print(f"no-op: {n} trials in {wall:.1f}s: {n / wall:.2f} trials/s, {wall * slots / n:.2f} slot-s per trial",
              flush=True)

        real = study("packed", 2, args.trials // 2, args.steps)
        spec = parse_spec(real)
        t = time.perf_counter()
        run_study(spec, yaml.safe_dump(real), f"{tmp}/packed", log=quiet)
        packed = time.perf_counter() - t
        ray.shutdown()
        t = time.perf_counter()
        for _, _, cfg in spec.grid_trials():
            run_trial(cfg, lambda row: None)
        loop = time.perf_counter() - t
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(slots) as pool:
            pool.map(_one, [cfg.to_dict() for _, _, cfg in spec.grid_trials()][:slots])  # warm the workers
            t = time.perf_counter()
            pool.map(_one, [cfg.to_dict() for _, _, cfg in spec.grid_trials()], chunksize=1)
            pooled = time.perf_counter() - t
    figures.update(process_pool_s=round(pooled, 2), process_pool_speedup=round(loop / pooled, 3),
                   packed_vs_process_pool_ratio=round(pooled / packed, 3))
    figures.update(trials=len(spec.grid_trials()), packed_s=round(packed, 2), sequential_loop_s=round(loop, 2),
                   packed_speedup=round(loop / packed, 3), packed_per_slot_ratio=round(loop / packed / slots, 3))
    print(f"{len(spec.grid_trials())} real trials: driver on {slots} slots {packed:.1f}s, plain loop {loop:.1f}s: "
          f"{loop / packed:.2f}x ({loop / packed / slots:.2f} of the slot count); plain process pool {pooled:.1f}s "
          f"({loop / pooled:.2f}x): the driver reaches {pooled / packed:.2f} of it", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
