"""Driver overhead and packed-trial throughput on one machine.

1. No-op trials: the full driver (spec -> Ray Tune -> store callback writing Parquet after
   every report) with a trainable that reports one final row and returns. Figures: trials per
   second, and the slot-seconds each trial costs (wall * slots / trials): the overhead a real
   trial pays on top of its own work.
2. Packed real trials: small GAN trials run by the driver on all CPU slots (1 CPU each),
   against the same trials one after another by ``run_trial`` in this process (a plain loop,
   warm caches). Steady-state throughput (``packed_per_slot_ratio``, ideal 1.0): from the
   driver's own receipt times of the final results (the store's ``timestamp``), the seconds
   between the first wave's last completion and the study's last completion, per trial, against
   the loop's median warm seconds per trial / slots. What that leaves of the wall time is the
   fixed start-up of a study (``startup_s``: the Tuner, which runs all of a study's phases, one
   new process per slot importing Ray Tune and torch, each slot's first trial filling cold
   caches). Whole-study ratios, start-up included, for studies of N and 2N trials. The same N
   trials in a plain process pool of ``slots`` warm processes (no Ray) give the machine's own ceiling.
3. Phases: a grid + seeds study in one Tuner (the driver) against the same study with one Tuner
   per phase and a barrier between them (how the driver used to run): ``phases_speedup``.

    python benchmarks/driver_overhead.py [--noop 60] [--trials 8] [--steps 1500]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


def noop_trainable(config):
    from ray import tune

    tune.report({"step": 1, "fid": 1.0, "best_fid": 1.0, "status": "ok", "error": "", "is_final": True,
                 "wall_time_s": 0.0})


def noop_evaluations(config):
    """A no-op trial that reports ``steps // eval_every`` evaluations, like a real one."""
    from ray import tune

    from study.engine.tune.searcher import request_of

    cfg = request_of(config).config
    n = cfg.steps // cfg.eval_every
    for i in range(1, n + 1):
        tune.report({"step": i * cfg.eval_every, "fid": 100.0 * cfg.lr + cfg.beta1 + i, "best_fid": 1.0,
                     "status": "ok", "error": "", "is_final": i == n, "wall_time_s": 0.0})


def noop_plain(config):
    """The same 20 reports, for a plain Tune run with no gan-study part (the baseline)."""
    from ray import tune

    for i in range(1, config["n"] + 1):
        tune.report({"step": i, "fid": config["x"] + i, "is_final": i == config["n"]})


def _plain_tune(total: int, evaluations: int, storage: str, samples: list) -> tuple[list[float], float]:
    """Plain Ray Tune on the same trial shape: BasicVariantGenerator, no callback of ours."""
    from ray import tune

    done: list[float] = []

    class Times(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            done.append(time.time())

    t = time.perf_counter()
    tune.Tuner(tune.with_resources(noop_plain, {"cpu": 1}),
               param_space={"x": tune.uniform(0, 1), "n": evaluations},
               tune_config=tune.TuneConfig(num_samples=total, reuse_actors=True),
               run_config=tune.RunConfig(name="plain", storage_path=storage, verbose=0, callbacks=[Times()])).fit()
    return done, time.perf_counter() - t


def _rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scale(trials: int, models: int, evaluations: int, baseline: bool = True) -> dict:
    """A study of ``trials`` no-op trials over ``models`` models (grid plus BO rounds), each
    reporting ``evaluations`` times: the driver's seconds per trial and memory, first thousand
    against last, and how long ``status`` and ``analysis.load`` take on the finished study.
    Baseline in the same command: plain Ray Tune running the same number of trials of the
    same shape (no searcher, store or callback of ours), measured the same way."""
    import threading

    import ray

    import analysis
    from study.engine.driver import run_study
    from study.engine.spec import parse_spec
    from study.engine.status import study_status

    losses = ["ns", "mm", "wgan", "hinge", "ls_sigmoid"]
    d_norms = ["none", "bn", "sn", "ln", "wn"]
    g_norms = ["bn", "none"]
    assert models <= 50
    per_model = trials // models
    grid_seeds = max(1, per_model // 5 // 4)  # a fifth of each model's trials in the grid (4 settings)
    grid = 4 * grid_seeds
    rounds = max(1, (per_model - grid) // 10)
    spec_dict = {"name": "scale", "factors": {"loss": losses, "d_norm": d_norms, "g_norm": g_norms},
                 "trial": {"steps": evaluations, "eval_every": 1},
                 "grid": {"preset": "kurach2019", "select": [1, 9, 17, 3], "seeds": list(range(grid_seeds))},
                 "bo": {"rounds": rounds, "trials_per_round": 10, "sampler": "tpe", "seed": 0},
                 "resources": {"cpu": 1}}
    spec = parse_spec(spec_dict)
    n_models = len(spec.models())
    assert n_models == models == 50, "the scale study has 5 losses x 5 D normalizers x 2 G normalizers"
    total = n_models * (grid + rounds * 10)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(1.0):
            samples.append((time.time(), _rss_mib()))

    with tempfile.TemporaryDirectory() as tmp:
        slots = os.cpu_count() or 1
        ray.init(address="local", num_cpus=slots, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        t = time.perf_counter()
        run_study(spec, yaml.safe_dump(spec_dict), f"{tmp}/scale", log=lambda *a, **k: None,
                  trainable=noop_evaluations)
        wall = time.perf_counter() - t
        ours = list(samples)
        samples.clear()
        plain_done, plain_wall = _plain_tune(total, evaluations, f"{tmp}/plain", samples) if baseline else ([], 0)
        stop.set()
        ray.shutdown()
        rows = pd.read_parquet(f"{tmp}/scale/results", columns=["trial_key", "is_final", "timestamp"])
        done_at = sorted(ts.timestamp() for ts in rows.loc[rows.is_final, "timestamp"])
        assert len(done_at) == total, (len(done_at), total)
        window = min(1000, total // 5)
        first = (done_at[window] - done_at[0]) / window
        second = (done_at[2 * window] - done_at[window]) / window  # the grid is the first fifth: BO from here
        last = (done_at[-1] - done_at[-1 - window]) / window

        def rss_at(series, when: float) -> float:
            return min(series, key=lambda s: abs(s[0] - when))[1]

        rss_first, rss_last = rss_at(ours, done_at[window]), rss_at(ours, done_at[-1])
        plain = {}
        if plain_done:
            p = sorted(plain_done)
            p_first, p_last = (p[window] - p[0]) / window, (p[-1] - p[-1 - window]) / window
            plain = {"plain_tune_wall_s": round(plain_wall, 1), "plain_tune_first_s_per_trial": round(p_first, 4),
                     "plain_tune_last_s_per_trial": round(p_last, 4),
                     "plain_tune_s_per_trial_ratio": round(p_last / p_first, 3),
                     "plain_tune_rss_first_mib": round(rss_at(samples, p[window])),
                     "plain_tune_rss_last_mib": round(rss_at(samples, p[-1])),
                     "plain_tune_rss_ratio": round(rss_at(samples, p[-1]) / rss_at(samples, p[window]), 3),
                     "vs_plain_tune_wall_ratio": round(wall / plain_wall, 3)}
        t = time.perf_counter()
        study_status(f"{tmp}/scale", log=lambda *a: None)
        status_s = time.perf_counter() - t
        t = time.perf_counter()
        analysis.load(f"{tmp}/scale")
        load_s = time.perf_counter() - t
    return {"scale_trials": total, "scale_models": n_models, "scale_evaluations": evaluations,
            "scale_rows": len(rows), "scale_wall_s": round(wall, 1), "scale_trials_per_s": round(total / wall, 2),
            "scale_first_s_per_trial": round(first, 4), "scale_last_s_per_trial": round(last, 4),
            "scale_s_per_trial_ratio": round(last / first, 3),
            "scale_second_s_per_trial": round(second, 4), "scale_bo_s_per_trial_ratio": round(last / second, 3),
            "scale_rss_first_mib": round(rss_first),
            "scale_rss_last_mib": round(rss_last), "scale_rss_ratio": round(rss_last / rss_first, 3),
            "status_s": round(status_s, 2), "analysis_load_s": round(load_s, 2), **plain}


def _one(cfg_dict: dict) -> None:
    from study.gan.config import TrialConfig
    from study.gan.trial import run_trial

    run_trial(TrialConfig.from_dict(cfg_dict), lambda row: None)


def study(name: str, models: int, seeds: int, steps: int) -> dict:
    losses = ["ns", "wgan", "hinge", "ls_sigmoid", "mm", "ls_raw"][:models]
    return {"name": name, "factors": {"loss": losses},
            "trial": {"resolution": 8, "width": 0.25, "z_dim": 16, "batch_size": 32, "steps": steps,
                      "eval_every": steps, "eval_samples": 300},
            "grid": {"preset": "kurach2019", "select": [1], "seeds": list(range(seeds))},
            "resources": {"cpu": 1}}


def phases(run_study, parse_spec, tmp: str, steps: int, log) -> tuple[float, float]:
    """A grid + seeds study (3 models x 1 grid trial, then 2 seeds of each model's best) run by
    the driver in one Tuner, and phase by phase as the driver used to: the grid in one Tuner,
    then, after its last trial, the seeds in a second one (emulated by running the grid-only
    study and handing its results to the full study, which finds the grid done)."""
    full = {**study("phases", 3, 1, steps), "seeds": {"count": 2, "from": ["grid"]}}
    grid_only = {k: v for k, v in full.items() if k != "seeds"}
    t = time.perf_counter()
    run_study(parse_spec(grid_only), yaml.safe_dump(grid_only), f"{tmp}/grid-only", log=log)
    shutil.copytree(f"{tmp}/grid-only/results", f"{tmp}/by-phase/results")
    run_study(parse_spec(full), yaml.safe_dump(full), f"{tmp}/by-phase", log=log)
    by_phase = time.perf_counter() - t
    t = time.perf_counter()
    run_study(parse_spec(full), yaml.safe_dump(full), f"{tmp}/one", log=log)
    one = time.perf_counter() - t
    for folder in ("by-phase", "one"):
        final = pd.read_parquet(f"{tmp}/{folder}/results").query("is_final")
        assert final.groupby("phase").size().to_dict() == {"grid": 3, "seeds": 6}, folder
    return one, by_phase


def logging_overhead(trials: int, evaluations: int, repeats: int = 2) -> dict:
    """The same no-op study (``trials`` trials of ``evaluations`` reports each) with TensorBoard
    logging off and on, alternating, ``repeats`` times each: the driver's wall-time ratio and the
    event files written. (The callback imports no torch; the driver still does, through
    TrialConfig's registry validation in study/gan/data.)"""
    import ray

    from study.engine.driver import run_study
    from study.engine.spec import parse_spec

    per_model = max(1, trials // 2)
    base = {"factors": {"loss": ["ns", "wgan"]}, "trial": {"steps": evaluations, "eval_every": 1},
            "grid": {"preset": "kurach2019", "select": [1], "seeds": list(range(per_model))},
            "resources": {"cpu": 1}}
    walls: dict[bool, list[float]] = {False: [], True: []}
    events = 0
    with tempfile.TemporaryDirectory() as tmp:
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        for i in range(repeats):
            for tb in (False, True):
                spec = {"name": f"log{i}{int(tb)}", **base, "tensorboard": tb}
                t = time.perf_counter()
                run_study(parse_spec(spec), yaml.safe_dump(spec), f"{tmp}/{i}{int(tb)}", log=lambda *a, **k: None,
                          trainable=noop_evaluations)
                walls[tb].append(time.perf_counter() - t)
                if tb:
                    events = len(list(Path(f"{tmp}/{i}{int(tb)}/tensorboard").rglob("events.out.tfevents.*")))
        ray.shutdown()
    off, on = statistics.median(walls[False]), statistics.median(walls[True])
    return {"trials": 2 * per_model, "evaluations": evaluations, "off_s": [round(w, 2) for w in walls[False]],
            "on_s": [round(w, 2) for w in walls[True]], "tensorboard_wall_ratio": round(on / off, 3),
            "event_files": events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noop", type=int, default=60)
    parser.add_argument("--trials", type=int, default=8, help="N: the smaller study; the larger has 2N")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--scale", type=int, default=0, metavar="TRIALS",
                        help="only the scale mode: this many no-op trials over 50 models (the issue's: 5000)")
    parser.add_argument("--evaluations", type=int, default=20, help="evaluations per trial in the scale mode")
    parser.add_argument("--no-baseline", action="store_true", help="scale mode without the plain Tune run")
    parser.add_argument("--logging", type=int, default=0, metavar="TRIALS",
                        help="only TensorBoard's cost to the driver: this many no-op trials, logging off and on")
    args = parser.parse_args()
    if args.logging:
        print(json.dumps(logging_overhead(args.logging, args.evaluations)))
        return
    if args.scale:
        figures = scale(args.scale, 50, args.evaluations, baseline=not args.no_baseline)
        print(json.dumps(figures))
        return
    import ray

    from study.engine.driver import run_study
    from study.engine.spec import parse_spec
    from study.gan.trial import run_trial

    slots = os.cpu_count() or 1
    n = max(2, args.trials // 2 * 2)
    t = time.perf_counter()
    ray.init(address="local", num_cpus=slots, include_dashboard=False, log_to_driver=False, configure_logging=False)
    figures: dict[str, float] = {"slots": slots, "ray_init_s": round(time.perf_counter() - t, 2)}
    quiet = lambda *a, **k: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        noop = study("noop", 6, args.noop // 6, 10)
        t = time.perf_counter()
        run_study(parse_spec(noop), yaml.safe_dump(noop), f"{tmp}/noop", log=quiet, trainable=noop_trainable)
        wall = time.perf_counter() - t
        k = 6 * (args.noop // 6)
        figures.update(noop_trials=k, noop_wall_s=round(wall, 2), noop_trials_per_s=round(k / wall, 2),
                       overhead_per_trial_s=round(wall * slots / k, 3))
        print(f"no-op: {k} trials in {wall:.1f}s: {k / wall:.2f} trials/s, {wall * slots / k:.2f} slot-s per trial",
              flush=True)

        packed = {}
        for size in (n, 2 * n):
            real = study(f"packed{size}", 2, size // 2, args.steps)
            t = time.perf_counter()
            run_study(parse_spec(real), yaml.safe_dump(real), f"{tmp}/packed{size}", log=quiet)
            packed[size] = time.perf_counter() - t
            print(f"driver: {size} trials on {slots} slots in {packed[size]:.1f}s", flush=True)
        rows = pd.read_parquet(f"{tmp}/packed{2 * n}/results")
        done_at = sorted(rows.loc[rows.is_final, "timestamp"])
        one, by_phase = phases(run_study, parse_spec, tmp, args.steps // 2, quiet)
        figures.update(phases_one_tuner_s=round(one, 2), phases_tuner_per_phase_s=round(by_phase, 2),
                       phases_speedup=round(by_phase / one, 3))
        print(f"grid + seeds study (3 models, 3 + 6 trials): one Tuner {one:.1f}s, a Tuner per phase {by_phase:.1f}s: "
              f"{by_phase / one:.2f}x", flush=True)
        ray.shutdown()
    small = [cfg for _, _, cfg in parse_spec(study("s", 2, n // 2, args.steps)).grid_trials()]
    large = [cfg for _, _, cfg in parse_spec(study("l", 2, n, args.steps)).grid_trials()]
    keys = {c.key("x", "grid") for c in small}
    times = {}
    for cfg in large:  # the larger study's trials; the smaller study's are among them
        t = time.perf_counter()
        run_trial(cfg, lambda row: None)
        times[cfg.key("x", "grid")] = time.perf_counter() - t
    loop_small = sum(times[key] for key in keys)
    loop_large = sum(times.values())
    warm = statistics.median(list(times.values())[1:])  # the loop's first trial fills the caches; median: VM noise
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(slots) as pool:
        pool.map(_one, [cfg.to_dict() for cfg in large[n:n + slots]])  # warm the workers
        t = time.perf_counter()
        pool.map(_one, [cfg.to_dict() for cfg in small], chunksize=1)
        pooled = time.perf_counter() - t

    assert len(done_at) == 2 * n > slots, "every trial of the larger study has a final row"
    steady = (done_at[-1] - done_at[slots - 1]).total_seconds() / (2 * n - slots)  # driver s per trial, all slots
    startup = packed[2 * n] - 2 * n * steady
    figures.update(trials=n, steps=args.steps, sequential_loop_s=round(loop_small, 2), packed_s=round(packed[n], 2),
                   packed_speedup=round(loop_small / packed[n], 3),
                   study_per_slot_ratio=round(loop_small / packed[n] / slots, 3),
                   large_trials=2 * n, large_sequential_loop_s=round(loop_large, 2),
                   large_packed_s=round(packed[2 * n], 2),
                   large_study_per_slot_ratio=round(loop_large / packed[2 * n] / slots, 3),
                   loop_s_per_trial=round(warm, 3), packed_s_per_trial=round(steady, 3),
                   packed_per_slot_ratio=round(warm / steady / slots, 3), startup_s=round(startup, 2),
                   process_pool_s=round(pooled, 2), process_pool_speedup=round(loop_small / pooled, 3),
                   packed_vs_process_pool_ratio=round(pooled / packed[n], 3))
    print(f"steady state: plain loop {warm:.2f}s per trial, driver {steady:.2f}s per trial on {slots} slots: "
          f"{warm / steady:.2f}x ({warm / steady / slots:.2f} of the slot count); fixed start-up of the study "
          f"{startup:.1f}s", flush=True)
    for size, loop in ((n, loop_small), (2 * n, loop_large)):
        print(f"whole study of {size} trials: driver {packed[size]:.1f}s, plain loop {loop:.1f}s: "
              f"{loop / packed[size]:.2f}x ({loop / packed[size] / slots:.2f} of the slot count)", flush=True)
    print(f"plain process pool, {n} trials on {slots} warm processes: {pooled:.1f}s ({loop_small / pooled:.2f}x)",
          flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
