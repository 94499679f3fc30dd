"""What opt-in early stopping saves on a digits study, and what it changes in the top-5% table.

The same grid study (2 losses x 2 D normalizers x the literature grid's n_dis = 1 settings x 2
seeds, 16 px digits, 600 steps, an evaluation every 100) run twice by the driver in this
process: without early stopping (the paper's way) and with ASHA over FID (grace 100 steps,
reduction factor 3). Figures: wall time, training steps run (the sum over trials of the step
each reached), trials stopped, and each model's best FID, which is the top-5% table at this
size (k = max(1, ceil(0.05 n)) = 1 per model).

    python benchmarks/early_stopping.py [--steps 600] [--scheduler asha]
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


def study(name: str, steps: int, stopping: dict | None) -> dict:
    spec = {"name": name, "factors": {"loss": ["ns", "wgan"], "d_norm": ["none", "sn"]},
            "trial": {"resolution": 16, "width": 0.25, "z_dim": 32, "batch_size": 64, "steps": steps,
                      "eval_every": 100, "sample_grid": 0},
            "grid": {"preset": "kurach2019", "where": {"n_dis": 1}, "seeds": [0, 1]}, "resources": {"cpu": 1}}
    if stopping:
        spec["early_stopping"] = stopping
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--scheduler", default="asha", choices=("asha", "median"))
    args = parser.parse_args()
    import ray

    import analysis
    from study.engine.driver import run_study
    from study.engine.spec import parse_spec

    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    figures: dict = {}
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, stopping in (("full", None), ("early_stopping", {"scheduler": args.scheduler, "grace_steps": 100,
                                                                     "reduction_factor": 3})):
            spec = study(label, args.steps, stopping)
            t = time.perf_counter()
            run_study(parse_spec(spec), yaml.safe_dump(spec), f"{tmp}/{label}", log=lambda *a, **k: None)
            wall = time.perf_counter() - t
            every = analysis.load(f"{tmp}/{label}", stopped=True)
            kept = analysis.load(f"{tmp}/{label}")
            top = analysis.summarize(analysis.top_fraction(kept, "model"), "model")
            tables[label] = top["min"].rename(label)
            figures[label] = {"wall_s": round(wall, 1), "trials": len(every),
                              "stopped": int((every["status"] == "stopped").sum()),
                              "steps_run": int(every["step"].sum())}
            print(f"{label}: {figures[label]}", flush=True)
    ray.shutdown()
    full, es = figures["full"], figures["early_stopping"]
    figures["wall_ratio"] = round(es["wall_s"] / full["wall_s"], 3)
    figures["steps_ratio"] = round(es["steps_run"] / full["steps_run"], 3)
    import pandas as pd

    table = pd.concat([tables["full"], tables["early_stopping"]], axis=1)
    print(f"best FID per model (the top-5% table at this size):\n{table.round(2)}")
    figures["best_fid"] = {m: [round(v, 2) for v in row] for m, row in table.iterrows()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
