"""Ray's side of running a study: the Ray instance, the cluster's resources, the Tuner."""
from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator

from study.engine.spec import StudySpec
from study.gan.config import ConfigError


@contextlib.contextmanager
def ray_runtime(address: str | None, num_cpus: int | None) -> Iterator[None]:
    """Join ``address``, or start a private local Ray instance ("local" never attaches to a
    cluster that `ray start` registered on this machine); shut down what was started here."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # keeps torch out of the driver's loggers
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", "16")
    import ray

    owns = not ray.is_initialized()
    if owns:
        ray.init(address=address or "local", num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        if owns:
            ray.shutdown()


def check_resources(spec: StudySpec) -> None:
    """A trial that no node could ever hold is an error now, not a silent PENDING later."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    fits = [n for n in nodes if n.get("CPU", 0) >= spec.resources.cpu and n.get("GPU", 0) >= spec.resources.gpu]
    if not fits:
        have = ", ".join(f"{{cpu: {n.get('CPU', 0):g}, gpu: {n.get('GPU', 0):g}}}" for n in nodes) or "no nodes"
        raise ConfigError(f"resources: a trial asks for {{cpu: {spec.resources.cpu:g}, gpu: "
                          f"{spec.resources.gpu:g}}} but no node of this cluster has that much; nodes: {have}")
    check_memory(spec, max((n.get("memory", 0) for n in nodes), default=0))


def check_memory(spec: StudySpec, node_bytes: float) -> None:
    """A trial (a fused group: ``fuse`` of them) whose networks and batches need more memory than
    the largest node has (study/gan/memory.py estimates it) is an error now, with the numbers."""
    from study.gan.memory import estimate

    if not node_bytes:
        return
    for model in spec.models():
        cfg = spec.config(model)
        need = estimate(cfg)
        if need.total * spec.resources.fuse > node_bytes:
            group = f" x fuse {spec.resources.fuse}" if spec.resources.fuse > 1 else ""
            raise ConfigError(
                f"trial: model {model.name} (batch_size {cfg.batch_size}, z_dim {cfg.z_dim}, width {cfg.width:g}, "
                f"{cfg.resolution} px) needs about {need.describe()}{group} per trial, more than the "
                f"{node_bytes / 2**30:.1f} GiB of the largest node; lower trial.batch_size, z_dim or width")


def pending_first(fallback, tune_controller):
    """Tune's FIFO choice of the next trial without its scan of every trial at every step.

    ``FIFOScheduler.choose_trial_to_run`` walks all of an experiment's trials, finished ones
    included, on each step: past a few thousand trials that scan dominated the driver (a fifth
    of its time at 2,500 no-op trials, growing with every trial). This walks the controller's
    list of trials that became PENDING (in that order) and its paused set; where a Ray version
    lacks them it falls back to Tune's own scan (``fallback(tune_controller)``)."""
    from ray.tune.experiment import Trial

    controller = getattr(tune_controller, "_tune_controller", tune_controller)
    pending = getattr(controller, "_pending_trials_list", None)
    paused = getattr(controller, "_paused_trials", None)
    if pending is None or paused is None:
        return fallback(tune_controller)
    for trial in pending:
        if trial.status == Trial.PENDING:
            return trial
    for trial in paused:
        if trial.status == Trial.PAUSED:
            return trial
    return None


def fifo_scheduler():
    """Tune's FIFO order, choosing the next trial with ``pending_first``."""
    from ray.tune.schedulers import FIFOScheduler

    class PendingFirst(FIFOScheduler):
        def choose_trial_to_run(self, tune_controller):
            return pending_first(super().choose_trial_to_run, tune_controller)

    return PendingFirst()


def trial_scheduler(spec: StudySpec):
    """FIFO, or with ``early_stopping`` in the study its ASHA / median stopping scheduler."""
    if spec.early_stopping is None:
        return fifo_scheduler()
    from study.engine.tune.stopping import stopping_scheduler

    return stopping_scheduler(spec, choose=pending_first)


def trial_name(trial) -> str:
    from study.engine.request import requests_of
    from study.engine.tune.searcher import request_of

    reqs = requests_of(request_of(trial.config))
    return f"{reqs[0].phase}_{reqs[0].trial_key}" + (f"+{len(reqs) - 1}" if len(reqs) > 1 else "")


def fit(spec: StudySpec, study_dir: str, searcher, callbacks: list, total: int,
        trainable: Callable[[dict[str, Any]], None] | None = None, reuse_actors: bool = True) -> None:
    """One Tuner for the whole study (all phases behind ``searcher``)."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    from study.engine.tune.trainable import tune_trainable

    fn = tune.with_resources(trainable or tune_trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})
    # reuse_actors: a trial slot keeps its process (and its imported torch, cached data and
    # extractor) for the next trial instead of paying a new process per trial.
    tune_config = tune.TuneConfig(search_alg=searcher, scheduler=trial_scheduler(spec), num_samples=total,
                                  trial_name_creator=trial_name,
                                  trial_dirname_creator=trial_name, reuse_actors=reuse_actors)
    # Tune's own JSON log per trial (result.json) keeps its ResultGrid working with the
    # TensorBoard logger disabled; our store is the source of truth.
    # num_to_keep=1 makes Tune snapshot its experiment state after every trial checkpoint and warn
    # ("snapshotting has been triggered multiple times", ray issue 31613) when that happens within
    # 5 s, once per evaluation of every running trial. Silenced on purpose: a study never restores
    # from that state (resume reads the store and the Optuna journal), and a snapshot of at most
    # one segment's trials takes milliseconds (7 ms measured for a local study); keeping more
    # checkpoints instead would grow each running trial's disk use with its evaluations.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    run_config = tune.RunConfig(name="study", storage_path=f"{study_dir}/ray", verbose=0, log_to_file=True,
                                callbacks=[*callbacks, JsonLoggerCallback()],
                                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                                checkpoint_config=tune.CheckpointConfig(num_to_keep=1))  # a retry needs the latest
    tune.Tuner(fn, tune_config=tune_config, run_config=run_config).fit()
