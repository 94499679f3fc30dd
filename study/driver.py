"""The study driver: runs a StudySpec's phases on Ray Tune and writes every row to the store.

One Tuner runs the whole study: ``PhasedSearcher`` (study/phases.py) suggests the literature
grid, Bayesian optimisation in rounds for every model at once, and the seeds phase, gating
per model (a model's BO after its grid when warm-started, its seeds after its BO), so no slot
idles at a phase boundary and trial processes stay warm for the whole study. Trials whose key
already has a final row in the store are not run again, so re-running a study continues it.
The trial function knows Tune only through ``tune.report``.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from study.config import ConfigError, TrialConfig
from study.provenance import provenance
from study.spec import StudySpec
from study.store import ResultsStore

RESULT_KEYS = ("step", "fid", "best_fid", "fid_samples", "fid_split", "fid_precision", "d_loss", "g_loss", "inception_score",
               "inception_score_std", "kid", "kid_std", "pixel_hist_distance", "recon_error",
               "is_final", "status", "error", "wall_time_s", "device_name", "hostname", "torch_version",
               "restored_from_step", "node_id")
CHECKPOINT_FILE = "trial_state.pt"


def tune_trainable(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable: a TrialConfig in, ``tune.report`` at each evaluation.

    ``config["cfg"]`` holds ``trial`` (a TrialConfig as a dict) and ``meta`` (phase, model,
    trial key, BO round), for both phases.
    """
    import tempfile

    import torch
    from ray import tune

    from study.trial import run_trial

    import ray

    cfg = TrialConfig.from_dict(config["cfg"]["trial"])
    _cap_gpu_memory(tune.get_context())
    node_id = ray.get_runtime_context().get_node_id()
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a retry after a crash: continue from the last evaluation
        with checkpoint.as_directory() as path:
            state = torch.load(os.path.join(path, CHECKPOINT_FILE), map_location="cpu", weights_only=True)

    def report(row: dict[str, Any], trial_state: dict[str, Any] | None = None) -> None:
        row = {**row, "node_id": node_id}
        if trial_state is None:
            tune.report(row)
            return
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(trial_state, os.path.join(tmp, CHECKPOINT_FILE))
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))

    run_trial(cfg, report=report, state=state, checkpoints=True)


def _cap_gpu_memory(context) -> None:
    """A trial given a fraction of a GPU keeps to that fraction of its memory (Tune's GPU
    fractions are logical only)."""
    import torch

    try:
        gpus = context.get_trial_resources().required_resources.get("GPU", 0)
    except Exception:  # noqa: BLE001 - outside a Tune trial there is nothing to cap
        return
    if 0 < gpus < 1 and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(gpus)


class _Log:
    """The driver's progress printer. Tune pickles its callbacks (tuner.pkl), and Ray's tqdm
    support replaces ``builtins.print`` in the driver once it shows a bar, after which the
    original ``print`` no longer pickles by reference: this pickles as "print at call time"."""

    def __init__(self, fn=None) -> None:
        self.fn = fn

    def __call__(self, *args, **kwargs) -> None:
        (self.fn or print)(*args, **kwargs)

    def __reduce__(self):
        return (_Log, ())


def _store_callback(store: ResultsStore, study_name: str, log=print, total: int = 0):
    from ray.tune import Callback

    class StoreCallback(Callback):
        """Writes each trial's rows to the store after every evaluation (atomically)."""

        def __init__(self) -> None:
            self.rows: dict[str, list[dict[str, Any]]] = {}
            self.prov = provenance()
            self.done = 0

        def _base(self, trial) -> dict[str, Any]:
            meta = trial.config["cfg"]["meta"]
            return {"study": study_name, "phase": meta["phase"], "bo_round": meta.get("bo_round"),
                    "model": meta["model"], "trial_key": meta["trial_key"], **trial.config["cfg"]["trial"], **self.prov}

        def _write(self, trial, row: dict[str, Any]) -> None:
            key = trial.config["cfg"]["meta"]["trial_key"]
            if key not in self.rows:  # a resumed study: keep what earlier runs wrote
                self.rows[key] = [r for r in store.read_trial(key) if not r["is_final"]]
            # A retried trial restarts its steps: its new rows replace the old ones from that step on.
            kept = [r for r in self.rows[key] if r["step"] < row["step"]]
            self.rows[key] = kept + [row]
            store.write_trial(key, self.rows[key])

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            row = {**self._base(trial), **{k: result.get(k) for k in RESULT_KEYS},
                   "timestamp": dt.datetime.now(dt.timezone.utc)}
            self._write(trial, row)

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            _drop_checkpoint(trial, log)
            last = self.rows.get(trial.config["cfg"]["meta"]["trial_key"], [{}])[-1]
            log(f"  [{trial.config['cfg']['meta']['phase']} {self.done}/{total}] {trial.config['cfg']['meta']['model']} "
                f"lr={trial.config['cfg']['trial']['lr']:.3g} b1={trial.config['cfg']['trial']['beta1']:.3g} "
                f"b2={trial.config['cfg']['trial']['beta2']:.3g} n_dis={trial.config['cfg']['trial']['n_dis']}: "
                f"{last.get('status', '?')} fid={last.get('fid', float('nan')):.2f} "
                f"({last.get('wall_time_s') or 0:.1f}s)")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            key = trial.config["cfg"]["meta"]["trial_key"]
            prior = self.rows.get(key) or [r for r in store.read_trial(key) if not r["is_final"]]
            err = _error_text(trial)
            row = {**self._base(trial), "step": prior[-1]["step"] if prior else 0, "status": "failed",
                   "error": err, "is_final": True, "timestamp": dt.datetime.now(dt.timezone.utc)}
            self.rows[key] = prior + [row]
            store.write_trial(key, self.rows[key])
            log(f"  [{trial.config['cfg']['meta']['phase']} {self.done}/{total}] {trial.config['cfg']['meta']['model']}: failed: "
                f"{err.strip().splitlines()[-1] if err.strip() else 'unknown error'}")

    return StoreCallback()


def _drop_checkpoint(trial, log) -> None:
    """A finished trial's checkpoint only served its retries: delete it, so that a study of
    thousands of trials does not keep one model and optimiser state per trial (80 MB for
    SNDCGAN at 32 px, 350 MB for ResNet19). A failed trial keeps its last one, to debug from."""
    checkpoint = trial.checkpoint
    if checkpoint is None:
        return
    try:
        checkpoint.filesystem.delete_dir(checkpoint.path)
    except Exception as exc:  # noqa: BLE001 - a leftover file costs space, not results
        log(f"  could not delete the finished trial's checkpoint {checkpoint.path}: {exc}")


def _trial_name(trial) -> str:
    meta = trial.config["cfg"]["meta"]
    return f"{meta['phase']}_{meta['trial_key']}"


def _callbacks(store: ResultsStore, study_name: str, log, total: int) -> list:
    # Tune's own JSON log per trial (result.json) keeps its ResultGrid working with the
    # TensorBoard logger disabled; our store is the source of truth.
    from ray.tune.logger import JsonLoggerCallback

    return [_store_callback(store, study_name, log, total), JsonLoggerCallback()]


def _error_text(trial) -> str:
    try:
        path = trial.error_file
        if path and os.path.exists(path):
            return Path(path).read_text()[-4000:]
    except Exception:  # noqa: BLE001 - the error text is best effort; the status is what counts
        pass
    return "trial failed"


@dataclass(frozen=True)
class StudyRun:
    study_dir: str
    results_dir: str
    grid_trials: int
    bo_trials: int
    seed_trials: int
    wall_time_s: float


def _check_resources(spec: StudySpec) -> None:
    """A trial that no node could ever hold is an error now, not a silent PENDING later."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    fits = [n for n in nodes if n.get("CPU", 0) >= spec.resources.cpu and n.get("GPU", 0) >= spec.resources.gpu]
    if not fits:
        have = ", ".join(f"{{cpu: {n.get('CPU', 0):g}, gpu: {n.get('GPU', 0):g}}}" for n in nodes) or "no nodes"
        raise ConfigError(f"resources: a trial asks for {{cpu: {spec.resources.cpu:g}, gpu: "
                          f"{spec.resources.gpu:g}}} but no node of this cluster has that much; nodes: {have}")


def _record_spec(spec_text: str, study_dir: str) -> None:
    """Write the study file into the study directory (any pyarrow URI), or check it is the same."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(study_dir)
    path = f"{root}/study.yaml"
    if fs.get_file_info(path).type == pafs.FileType.File:
        with fs.open_input_stream(path) as f:
            if yaml.safe_load(f.read().decode()) != yaml.safe_load(spec_text):
                raise ConfigError(f"study_dir: {study_dir} already holds a different study; choose another directory")
    fs.create_dir(root, recursive=True)
    with fs.open_output_stream(f"{root}/.study.yaml.tmp") as out:
        out.write(spec_text.encode())
    fs.move(f"{root}/.study.yaml.tmp", path)


def _study_uri(study_dir: str | Path) -> str:
    """A local path becomes an absolute file:// URI; URIs (s3://, gs://, file://) pass through."""
    text = str(study_dir)
    return text.rstrip("/") if "://" in text else Path(text).resolve().as_uri()


def run_study(spec: StudySpec, spec_text: str, study_dir: str | Path, address: str | None = None,
              num_cpus: int | None = None, log=print, trainable=tune_trainable, reuse_actors: bool = True) -> StudyRun:
    """Run every phase of ``spec`` (or what a previous run left); results land in ``<study_dir>/results``."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # keeps torch out of the driver's loggers
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", "16")
    import ray
    from ray import tune

    from study.phases import PhasedSearcher

    start = time.perf_counter()
    log = _Log(log)
    study_dir = _study_uri(study_dir)
    owns_ray = not ray.is_initialized()
    if owns_ray:
        # "local" always starts a private instance; None would attach to any cluster that `ray start`
        # registered on this machine (/tmp/ray/ray_current_cluster).
        ray.init(address=address or "local", num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        _check_resources(spec)  # before anything is written
        _record_spec(spec_text, study_dir)
        store = ResultsStore(study_dir)
        threads = max(1, int(spec.resources.cpu))
        trainable = tune.with_resources(trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})
        run_cfg = dict(storage_path=f"{study_dir}/ray", verbose=0, log_to_file=True,
                       failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                       checkpoint_config=tune.CheckpointConfig(num_to_keep=1))  # a retry needs the latest only
        # reuse_actors: a trial slot keeps its process (and its imported torch, cached data and
        # extractor) for the next trial instead of paying a new process per trial.
        tune_cfg = dict(trial_name_creator=_trial_name, trial_dirname_creator=_trial_name, reuse_actors=reuse_actors)

        stored = store.table().to_pylist()
        bo_rows = [r for r in stored if r["phase"] == "bo"]
        in_flight = {r["trial_key"] for r in bo_rows} - {r["trial_key"] for r in bo_rows if r["is_final"]}
        if in_flight:  # partial rows of BO trials a dead driver left running; they are re-suggested
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
            folder = store.archive(in_flight, f"interrupted-bo-{stamp}")
            log(f"bo phase: {len(in_flight)} interrupted trials moved to {folder}")
            stored = [r for r in stored if r["trial_key"] not in in_flight]
        searcher = PhasedSearcher(spec, stored, threads, log)
        total = searcher.upper_bound()
        if total:
            tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, num_samples=total, **tune_cfg),
                       run_config=tune.RunConfig(name="study", callbacks=_callbacks(store, spec.name, log, total),
                                                 **run_cfg)).fit()
    finally:
        if owns_ray:
            ray.shutdown()
    return StudyRun(study_dir, store.root, searcher.suggested["grid"], searcher.suggested["bo"],
                    searcher.suggested["seeds"], time.perf_counter() - start)
