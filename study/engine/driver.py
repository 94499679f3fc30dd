"""The study driver: runs a StudySpec on Ray Tune and writes every row to the store.

One Tuner runs the whole study: ``PhasedScheduler`` (study/engine/phases.py) hands out the
literature grid, Bayesian optimisation in rounds for every model at once and the seeds phase,
gating per model, so no slot idles at a phase boundary and trial processes stay warm for the
whole study. Trials whose key already has a final row in the store are not run again, so
re-running a study continues it. One driver holds a study directory at a time
(study/engine/lock.py). Everything Ray does is in study/engine/tune/.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow.fs as pafs

from study.engine.extension import extend_study
from study.engine.keep import GeneratorKeeper
from study.engine.lock import DriverLock
from study.engine.provenance import provenance
from study.engine.spec import StudySpec, load_yaml
from study.engine.status import STATUS_COLUMNS, is_finished
from study.engine.store import ResultsStore
from study.gan.config import ConfigError


class Log:
    """The driver's progress printer. Tune pickles its callbacks (tuner.pkl), and Ray's tqdm
    support replaces ``builtins.print`` in the driver once it shows a bar, after which the
    original ``print`` no longer pickles by reference: this pickles as "print at call time"."""

    def __init__(self, fn=None) -> None:
        self.fn = fn

    def __call__(self, *args, **kwargs) -> None:
        (self.fn or print)(*args, **kwargs)

    def __reduce__(self):
        return (Log, ())


@dataclass(frozen=True)
class StudyRun:
    study_dir: str
    results_dir: str
    grid_trials: int
    bo_trials: int
    seed_trials: int
    wall_time_s: float
    outcomes: dict[str, int]  # final status -> trials, over the whole study directory

    @property
    def failed(self) -> int:
        return self.outcomes.get("failed", 0)


def record_spec(spec_text: str, study_dir: str) -> None:
    """Write the study file into the study directory (any pyarrow URI), or check it is the same
    (and then write nothing: a finished study resumes on read-only storage)."""
    fs, root = pafs.FileSystem.from_uri(study_dir)
    path = f"{root}/study.yaml"
    if fs.get_file_info(path).type == pafs.FileType.File:
        with fs.open_input_stream(path) as f:
            if load_yaml(f.read().decode()) != load_yaml(spec_text):
                raise ConfigError(f"study_dir: {study_dir} already holds a different study; choose another directory, "
                                  "or grow that study with: gan-study run STUDY.yaml --out DIR --extend")
        return
    fs.create_dir(root, recursive=True)
    with fs.open_output_stream(f"{root}/.study.yaml.tmp") as out:
        out.write(spec_text.encode())
    fs.move(f"{root}/.study.yaml.tmp", path)


def study_uri(study_dir: str | Path) -> str:
    """A local path becomes an absolute file:// URI; URIs (s3://, gs://, file://) pass through."""
    text = str(study_dir)
    return text.rstrip("/") if "://" in text else Path(text).resolve().as_uri()


def _outcomes(rows: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        if r["is_final"]:
            out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def _archive_interrupted_bo(store: ResultsStore, stored: list[dict[str, Any]], log) -> list[dict[str, Any]]:
    """Partial rows of BO trials a dead driver left running move aside; the scheduler hands
    those trials out again (same setting and key with an Optuna journal) and they run afresh."""
    bo_rows = [r for r in stored if r["phase"] == "bo"]
    in_flight = {r["trial_key"] for r in bo_rows} - {r["trial_key"] for r in bo_rows if r["is_final"]}
    if not in_flight:
        return stored
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = store.archive(in_flight, f"interrupted-bo-{stamp}")
    log(f"bo phase: {len(in_flight)} interrupted trials moved to {folder}")
    return [r for r in stored if r["trial_key"] not in in_flight]


def _compact_finished(store: ResultsStore, stored: list[dict[str, Any]], loose: set[str], log,
                      chunk: int = 1000) -> None:
    """Finished trials an earlier driver left in their own files (``loose``) move into part files."""
    done = sorted({r["trial_key"] for r in stored if r["is_final"]} & loose)
    for i in range(0, len(done), chunk):
        keys = set(done[i:i + chunk])
        store.compact([r for r in stored if r["trial_key"] in keys])
    if done:
        log(f"results: {len(done)} finished trials compacted into part files")


def prepare_data(spec: StudySpec, log=print) -> dict[str, str]:
    """Every real dataset the study trains on (and every imported statistics file), found prepared or prepared now
    (study/gan/data/prepared.py), before Ray starts or the study directory is written: a missing, truncated or
    corrupt dataset is one DataError here, and nothing is written. Data settings are never
    searched, so the models' configs cover every trial. Returns prepared path -> manifest sha256."""
    from study.gan.data import SOURCES, DataOptions
    from study.gan.data.prepared import ensure_prepared

    done: dict[DataOptions, str] = {}
    for model in spec.models():
        cfg = spec.config(model)
        if cfg.fid_stats:  # an imported reference must load (its feature size is checked in the trial)
            from study.gan.metrics.stats_file import load_stats

            load_stats(cfg.fid_stats)
        options = DataOptions.from_config(cfg)
        if cfg.dataset not in SOURCES or options in done:
            continue
        prepared = ensure_prepared(options, log=log)
        done[options] = prepared.manifest_sha256
        log(f"data: {cfg.dataset} at {cfg.resolution} px in {prepared.path} "
            f"(manifest sha256 {prepared.manifest_sha256[:12]}...)")
    return {str(k): v for k, v in done.items()}


def check_feature_spaces(spec: StudySpec, log=print) -> dict[str, dict[str, str]]:
    """Every model's feature spaces (its feature_extractor, and DINOv2 ViT-L/14 for fd_dinov2) can
    be computed, before Ray starts or anything is written: the package they need importable,
    their weights file there and of their architecture (study/gan/metrics/extractors.check_spaces);
    else a ConfigError naming the field, the value and what is allowed. Returns model name ->
    column (feature_weights_sha256, fd_dinov2_weights_sha256) -> the weights' sha256."""
    from study.gan.metrics.extractors import check_spaces

    seen: dict[tuple, dict[str, str]] = {}
    out: dict[str, dict[str, str]] = {}
    for model in spec.models():
        cfg = spec.config(model)
        key = (cfg.feature_extractor, cfg.feature_weights, "fd_dinov2" in cfg.metric_set())
        if key not in seen:
            seen[key] = check_spaces(cfg)
            if cfg.feature_extractor.startswith("dinov2") or key[2]:
                log("features: " + ", ".join(f"{k} {v[:12]}..." for k, v in seen[key].items()))
        out[model.name] = seen[key]
    return out


WEIGHTS_COLUMNS = ["model", "feature_extractor", "feature_weights_sha256", "fd_dinov2_weights_sha256"]


def stored_weights(store: ResultsStore) -> dict[tuple[str, str, str], set[str]]:
    """(model, column, extractor) -> the weights' sha256 the stored rows of that model record in
    that feature space. Rows written before these columns existed (null or "") say nothing."""
    from study.gan.metrics.extractors import FD_DINOV2

    distinct = store.scan(WEIGHTS_COLUMNS).table.group_by(WEIGHTS_COLUMNS).aggregate([]).to_pylist()
    out: dict[tuple[str, str, str], set[str]] = {}
    for r in distinct:
        spaces = (("feature_weights_sha256", r["feature_extractor"]), ("fd_dinov2_weights_sha256", FD_DINOV2))
        for column, name in spaces:
            if r[column]:
                out.setdefault((r["model"], column, name), set()).add(r[column])
    return out


def weights_field(cfg, column: str) -> str:
    """Where the weights of ``column``'s feature space come from for ``cfg`` (a TrialConfig)."""
    from study.gan.metrics import dinov2, inception_weights
    from study.gan.metrics.extractors import space_weights

    name, weights = space_weights(cfg)[column]
    if weights:
        return "trial.feature_weights"
    if name.startswith("dinov2"):
        return f"${dinov2.ENV_PATH}"
    if name == "inception":
        unset = "" if os.environ.get(inception_weights.ENV_PATH) else f" (unset: {inception_weights.default_path()})"
        return f"${inception_weights.ENV_PATH}{unset}"
    return f"trial.feature_extractor ({name}: its weights ship with the package)"


def check_weights(spec: StudySpec, store: ResultsStore, log=print) -> None:
    """The feature spaces can be computed (``check_feature_spaces``: seconds, so before the data is
    prepared), with the weights the rows already in the study directory were computed with:
    feature_weights is not in the trial key, so a resumed or extended study would otherwise mix
    scores of two networks unnoticed. A change is one ConfigError, before anything is written."""
    from study.gan.metrics.extractors import space_weights

    identities, stored = check_feature_spaces(spec, log), stored_weights(store)
    for model in spec.models():
        cfg = spec.config(model)
        for column, digest in identities[model.name].items():
            before = stored.get((model.name, column, space_weights(cfg)[column][0]), set()) - {digest}
            if before:
                was = " or ".join(sorted(before))
                raise ConfigError(
                    f"{weights_field(cfg, column)}: the weights file has sha256 {digest}, but the rows of model "
                    f"{model.name} in {store.root} were scored with {column} {was} (weights are not part of the "
                    f"trial key: the study would mix two networks); allowed: the file of sha256 {was} again, "
                    f"or a new study directory for the new weights")


def _tensorboard(spec: StudySpec, study_dir: str, log) -> list:
    """The TensorBoard callback when the study asks for it and its directory is local."""
    if not spec.tensorboard:
        return []
    if "://" in study_dir and not study_dir.startswith("file://"):
        log(f"tensorboard: not written for a study on object storage ({study_dir}); run TensorBoard on a local copy")
        return []
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("tensorboard: true needs the tensorboard package: "
                          "pip install 'gan-study[tensorboard]'") from None
    from study.engine.tune.tensorboard import TensorBoardCallback

    log(f"tensorboard: tensorboard --logdir {study_dir.removeprefix('file://')}/tensorboard")
    return [TensorBoardCallback(study_dir)]


def _finished_run(spec: StudySpec, spec_text: str, study_dir: str, store: ResultsStore, extend: bool,
                  lease_s: float, log) -> dict[str, int] | None:
    """For a directory that holds a study: check ``spec`` against it (the same study, or with
    ``extend`` a growth of it; a refused change stops here, before anything is written) and,
    when every trial is done and nothing is damaged, the outcomes; None while work is left."""
    table = (scan := store.checked(log=log, columns=STATUS_COLUMNS)).table
    rows = table.to_pylist()
    if extend:
        grows = extend_study(study_dir, spec, spec_text, rows, log, write=False)
    else:
        record_spec(spec_text, study_dir)  # (only checks: the same study)
    if not is_finished(spec, table.to_pandas()) or scan.damaged:  # else repair first (resume)
        return None
    if extend and grows:  # a change that adds no trial (e.g. resources) is a version all the same
        with DriverLock(study_dir, lease_s=lease_s, log=log):
            extend_study(study_dir, spec, spec_text, rows, log)
    log(f"study {spec.name!r} is finished: nothing to run")
    return _outcomes(rows)


def run_study(spec: StudySpec, spec_text: str, study_dir: str | Path, address: str | None = None,
              num_cpus: int | None = None, log=print, trainable: Callable[[dict[str, Any]], None] | None = None,
              reuse_actors: bool = True, flush_every_s: float = 5.0, lease_s: float = 60.0,
              segment_trials: int = 1000, extend: bool = False) -> StudyRun:
    """Run every phase of ``spec`` (or what a previous run left); results land in ``<study_dir>/results``.

    Ray Tune keeps every trial of an experiment in the driver and walks them at each step, so
    its cost per trial and its memory grow with the experiment (1.6x per trial and +0.1 MB per
    trial by 5,000 trials, plain Tune alike). A study therefore runs as consecutive Tuners of at
    most ``segment_trials`` trials over one scheduler: the cost stays that of the first
    thousand, for one start-up and one drained wave of trials per segment.

    ``extend``: ``spec`` may be a grown version of the study the directory holds
    (study/engine/extension.py); it is checked before anything runs and recorded as the next version."""
    from study.engine.bo import journal_storage
    from study.engine.phases import PhasedScheduler
    from study.engine.tune import runner
    from study.engine.tune.callbacks import StoreCallback
    from study.engine.tune.searcher import StudySearcher

    start = time.perf_counter()
    log = Log(log)
    study_dir = study_uri(study_dir)
    store = ResultsStore(study_dir, create=False)
    fs, root = pafs.FileSystem.from_uri(study_dir)
    if fs.get_file_info(f"{root}/study.yaml").type == pafs.FileType.File:  # a study that may be finished
        finished = _finished_run(spec, spec_text, study_dir, store, extend, lease_s, log)
        if finished is not None:
            return StudyRun(study_dir, store.root, 0, 0, 0, time.perf_counter() - start, finished)
    check_weights(spec, store, log)  # seconds, so first: the feature spaces, with the weights of the rows
    prepare_data(spec, log)  # before anything is written or launched
    threads = max(1, int(spec.resources.cpu))
    fs.create_dir(root, recursive=True)
    with DriverLock(study_dir, lease_s=lease_s, log=log), runner.ray_runtime(address, num_cpus):
        runner.check_resources(spec)  # before anything is written
        if extend:
            extend_study(study_dir, spec, spec_text, store.table(log=log, columns=STATUS_COLUMNS).to_pylist(), log)
        record_spec(spec_text, study_dir)
        store = ResultsStore(study_dir)
        scan = store.checked(repair=True, log=log)
        stored = _archive_interrupted_bo(store, scan.table.to_pylist(), log)
        _compact_finished(store, stored, set(scan.loose), log)
        partial: dict[str, list[dict[str, Any]]] = {}
        for r in stored:
            if not r["is_final"]:
                partial.setdefault(r["trial_key"], []).append(r)
        scheduler = PhasedScheduler(spec, stored, threads, log, storage=journal_storage(study_dir))
        total = scheduler.upper_bound()
        keeper = GeneratorKeeper(study_dir, spec.keep_generators, stored, log)
        keeper.prune()  # what a driver that died left of trials that do not rank
        callback = StoreCallback(store, spec.name, provenance(), partial, log, total, flush_every_s, keeper=keeper,
                                 stopper=spec.early_stopping.scheduler if spec.early_stopping else "early-stopping")
        searcher = StudySearcher(scheduler, artifacts=study_dir, fuse=spec.resources.fuse)
        callbacks = [callback] + _tensorboard(spec, study_dir, log)
        while not scheduler.done():  # one Tuner per segment of at most segment_trials trials
            before, size = sum(scheduler.suggested.values()), min(scheduler.upper_bound(), segment_trials)
            if size <= 0:
                break
            runner.fit(spec, study_dir, searcher, callbacks, size, trainable, reuse_actors)
            if sum(scheduler.suggested.values()) == before:
                break  # nothing could be handed out: never loop on an empty segment
        outcomes = _outcomes(store.table(log=log, columns=["is_final", "status"]).to_pylist())
    return StudyRun(study_dir, store.root, scheduler.suggested["grid"], scheduler.suggested["bo"],
                    scheduler.suggested["seeds"], time.perf_counter() - start, outcomes)
