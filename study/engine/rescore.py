"""``gan-study rescore DIR --metrics ...``: a study's kept generators scored with metrics (or in
feature spaces) the study did not compute, into ``DIR/rescore/`` beside ``results/``.

Each kept generator (``DIR/generators/<trial_key>/best.pt``: the weights of the trial's best
evaluation, study/engine/keep.py) is rebuilt and evaluated on the study's own protocol, read from
the config the file carries: the same split and real images, the same number of samples from the
same evaluation latents (and labels, for a conditional generator), only the feature extractor, its
weights, the resize and the metrics replaced as asked. So where the metric and the feature space
are the study's own, the value is the trial's ``best_fid`` again (tests/study/engine/test_rescore.py).

One row per generator and metric column (``fid``, ``kid``, ``pr_precision``, ...), with the feature
space, its weights' sha256 and the generator's sha256. A generator's rows for one protocol are one
Parquet file, written atomically (``<trial_key>-<protocol digest>.parquet``), so an interrupted
rescore loses at most the generator in progress and a second run scores only what is missing.
Nothing in ``results/`` is read for writing or rewritten. ``fid`` is always among the rows: the
evaluator computes it whatever else is asked (in a DINOv2 space it is FD-DINOv2).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from study.engine.generators import kept_ranking
from study.engine.keep import GeneratorKeeper
from study.engine.store import filesystem
from study.gan.errors import ConfigError

RESCORE = "rescore"  # the folder beside results/
# The result columns each metric name adds (fid is always computed). A test checks that every
# metric the evaluator knows is here, so a new metric is rescorable once it is listed.
COLUMNS = {"fid": ("fid",), "is": ("inception_score", "inception_score_std"), "kid": ("kid", "kid_std"),
           "pr": ("pr_precision", "pr_recall"), "dc": ("dc_density", "dc_coverage"),
           "hist": ("pixel_hist_distance",), "recon": ("recon_error",), "intra_fid": ("intra_fid",),
           "fd_dinov2": ("fd_dinov2",)}
SCHEMA = pa.schema([
    pa.field("study", pa.string()), pa.field("model", pa.string()), pa.field("phase", pa.string()),
    pa.field("trial_key", pa.string()), pa.field("rank", pa.int64()),  # the generator's rank in its model
    pa.field("metric", pa.string()),  # a result column: fid, kid, pr_precision, ...
    pa.field("metric_name", pa.string()),  # the metrics entry that computed it: fid, kid, pr, ...
    pa.field("value", pa.float64()),
    pa.field("feature_extractor", pa.string()), pa.field("feature_weights_sha256", pa.string()),
    pa.field("fid_resize", pa.string()), pa.field("fid_samples", pa.int64()), pa.field("fid_split", pa.string()),
    pa.field("fid_real_samples", pa.int64()), pa.field("fid_real_stats_sha256", pa.string()),
    pa.field("generator_sha256", pa.string()), pa.field("study_best_fid", pa.float64()),
    pa.field("device_name", pa.string()), pa.field("hostname", pa.string()), pa.field("torch_version", pa.string()),
    pa.field("wall_time_s", pa.float64()), pa.field("timestamp", pa.timestamp("us", tz="UTC")),
])


@dataclass(frozen=True, kw_only=True)
class RescoreOptions:
    """What to compute: ``metrics`` (names of TrialConfig.metrics), in ``feature_extractor``
    ("" = each generator's own) with ``feature_weights`` (a weights file, "" = the extractor's
    default lookup), resized by ``fid_resize`` ("" = the study's), on ``device``."""

    metrics: tuple[str, ...]
    feature_extractor: str = ""
    feature_weights: str = ""
    fid_resize: str = ""
    device: str = "auto"

    @classmethod
    def parse(cls, metrics: str, **rest: str) -> RescoreOptions:
        """Validated options; each bad value is refused naming the flag and what is allowed."""
        from study.gan.metrics.evaluator import METRICS

        names = tuple(dict.fromkeys(m.strip() for m in metrics.replace(",", "+").split("+") if m.strip()))
        bad = [m for m in names if m not in METRICS]
        if not names or bad:
            raise ConfigError(f"--metrics: invalid value {metrics!r}; "
                              f"allowed: '+'-separated names from {list(METRICS)}")
        options = cls(metrics=names, **rest)
        options._check_choices()
        return options

    def _check_choices(self) -> None:
        from study.gan.metrics.extractors import EXTRACTORS
        from study.gan.metrics.preprocess import RESIZES

        if self.feature_extractor and self.feature_extractor not in EXTRACTORS:
            raise ConfigError(f"--feature-extractor: invalid value {self.feature_extractor!r}; "
                              f"allowed: {', '.join(EXTRACTORS.names())}")
        if self.fid_resize and self.fid_resize not in RESIZES:
            raise ConfigError(f"--fid-resize: invalid value {self.fid_resize!r}; allowed: {', '.join(RESIZES)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device: invalid value {self.device!r}; allowed: auto, cpu, cuda")


@dataclass(frozen=True)
class Target:
    """A kept generator and the study row it belongs to."""

    study: str
    model: str
    phase: str
    trial_key: str
    rank: int
    best_fid: float


@dataclass(frozen=True)
class Rescored:
    directory: str
    scored: int  # generators evaluated by this run
    skipped: int  # generators whose rows were already there
    failed: dict[str, str]  # trial key -> why (an unreadable generator file, a missing dataset)
    rows: int


def targets(study_dir: str) -> list[Target]:
    """Every kept generator of the study, by model and rank (best first)."""
    ranked, finals = kept_ranking(study_dir)
    out = []
    for model in sorted(ranked):
        for rank, (fid, key) in enumerate(ranked[model], start=1):
            row = finals[key]
            out.append(Target(str(row["study"]), model, str(row["phase"]), key, rank, float(fid)))
    return out


class Refused(ConfigError):
    """The question itself cannot be asked (a feature space that does not load, settings the
    generators' configs refuse): the rescore stops; what it wrote before stays valid."""


def protocol(cfg: Any, options: RescoreOptions) -> dict[str, Any]:
    """The evaluation settings of ``cfg`` (a TrialConfig) with the asked feature space, resize and
    metrics: the TrialConfig fields to replace. Another feature space never inherits the study's
    weights file (it belongs to the study's own space)."""
    fields: dict[str, Any] = {"metrics": "+".join(options.metrics)}
    if options.feature_extractor and options.feature_extractor != cfg.feature_extractor:
        fields["feature_extractor"], fields["feature_weights"] = options.feature_extractor, options.feature_weights
    elif options.feature_weights:
        fields["feature_weights"] = options.feature_weights
    if options.fid_resize:
        fields["fid_resize"] = options.fid_resize
    return fields


def file_name(trial_key: str, generator_sha256: str, cfg: Any, metrics: Iterable[str],
              spaces: dict[str, str]) -> str:
    """The rows' file for one generator under one protocol: the same name for the same question,
    so a second run finds it and a changed question gets its own file. ``spaces``: the feature
    spaces' weights identities (sha256, study.gan.metrics.extractors.check_spaces), so another
    weights file behind the same path or environment variable is another question."""
    what = {"generator": generator_sha256, "extractor": cfg.feature_extractor, "resize": cfg.fid_resize,
            "weights": spaces, "samples": cfg.eval_samples, "split": cfg.eval_split,
            "real": cfg.eval_real_samples, "stats": cfg.fid_stats, "metrics": sorted(metrics)}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return f"{trial_key}-{digest}.parquet"


def rescore(study_dir: str, options: RescoreOptions, log: Callable[[str], None] = print) -> Rescored:
    """Score every kept generator of ``study_dir`` as ``options`` asks; return what was done."""
    from study.gan.device import pick_device

    fs, root = filesystem(str(study_dir))
    if fs.get_file_info(f"{root}/results").type != pafs.FileType.Directory:
        raise FileNotFoundError(f"study_dir: no study at {study_dir!r} (expected a directory with results/)")
    todo = targets(str(study_dir))
    if not todo:
        raise ConfigError(f"study_dir: {study_dir} keeps no generators (keep_generators: 0, or no trial finished "
                          f"with a finite FID); nothing to rescore")
    scorer = _Scorer(str(study_dir), fs, root, options, pick_device(options.device), log)
    scorer.preflight(todo)
    fs.create_dir(f"{root}/{RESCORE}", recursive=True)
    for target in todo:
        scorer.score(target)
    log(f"rescored {scorer.scored} generators ({scorer.skipped} already done, {len(scorer.failed)} failed): "
        f"{root}/{RESCORE}")
    return Rescored(f"{root}/{RESCORE}", scorer.scored, scorer.skipped, dict(scorer.failed), scorer.rows)


class _Scorer:
    """Evaluates targets one by one, reusing one evaluator per evaluation protocol."""

    def __init__(self, study_dir: str, fs: pafs.FileSystem, root: str, options: RescoreOptions, device: Any,
                 log: Callable[[str], None]) -> None:
        self.keeper, self.fs, self.root, self.options = GeneratorKeeper(study_dir, 0), fs, root, options
        self.device, self.log = device, log
        self.evaluators: dict[str, Any] = {}
        self.spaces: dict[tuple, dict[str, str]] = {}
        self.scored = self.skipped = self.rows = 0
        self.failed: dict[str, str] = {}

    def score(self, target: Target) -> None:
        from study.gan.export import GeneratorFileError

        try:
            gen, cfg = self._generator(target)
            name = file_name(target.trial_key, gen.weights_sha256, cfg, self.options.metrics, self._spaces(cfg))
            path = f"{self.root}/{RESCORE}/{name}"
            if self._intact(path):
                self.skipped += 1
                return
            started = time.perf_counter()
            evaluator = self._evaluator(cfg)
            result = evaluator(gen.module, evaluator.latents(cfg.z_dim, cfg.z_dist), gen.low, gen.high, cfg.z_dim,
                               labels=evaluator.eval_labels)
        except Refused:
            raise
        except (GeneratorFileError, ConfigError, FileNotFoundError) as e:  # this generator only; the rest go on
            self.failed[target.trial_key] = str(e)
            self.log(f"  {target.model} rank {target.rank} ({target.trial_key}): not rescored: {e}")
            return
        rows = _rows(target, gen.weights_sha256, cfg, evaluator, result, time.perf_counter() - started,
                     self.options.metrics)
        _write(self.fs, path, rows)
        self.scored, self.rows = self.scored + 1, self.rows + len(rows)
        shown = ", ".join(f"{r['metric']} {r['value']:.4g}" for r in rows)
        self.log(f"  {target.model} rank {target.rank} ({target.trial_key}): {shown}")

    def preflight(self, todo: list[Target]) -> None:
        """Before anything is written: the question fits the first readable generator's config and
        its feature spaces load (package, weights file of the right architecture), else a Refused
        naming the flags. A study whose generators differ in evaluation settings has the others'
        checked as they come (reading every generator file first would double the I/O)."""
        from study.gan.export import GeneratorFileError

        for target in todo:
            try:
                _, cfg = self._generator(target)
            except (GeneratorFileError, FileNotFoundError):
                continue  # score() reports it; the next one tells whether the question holds
            self._spaces(cfg)
            return

    def _spaces(self, cfg: Any) -> dict[str, str]:
        """The weights identities of ``cfg``'s feature spaces, checked once per distinct setting."""
        from study.gan.metrics.extractors import check_spaces

        key = (cfg.feature_extractor, cfg.feature_weights, "fd_dinov2" in cfg.metric_set())
        if key not in self.spaces:
            try:
                self.spaces[key] = check_spaces(cfg)
            except ConfigError as e:
                raise Refused(f"--feature-extractor {cfg.feature_extractor} / --feature-weights: {e}") from None
        return self.spaces[key]

    def _generator(self, target: Target) -> tuple[Any, Any]:
        from study.gan.export import generator_from_payload, read_payload

        source = self.keeper.path(target.trial_key)
        with self.keeper.fs.open_input_stream(source) as f:
            payload = read_payload(f.read(), source)
        gen = generator_from_payload(payload, device=self.device, where=source)
        try:
            cfg = dataclasses.replace(gen.config, **protocol(gen.config, self.options)).validated()
        except ConfigError as e:  # the file's own config is valid (generator_from_payload): the options are not
            raise Refused(f"--metrics / --feature-extractor / --feature-weights / --fid-resize: {e}") from None
        return gen, cfg

    def _evaluator(self, cfg: Any) -> Any:
        """One evaluator per (dataset, evaluation settings): real features are computed once."""
        from study.gan.data import DataOptions, load_dataset
        from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions
        from study.gan.metrics.inception_weights import cache_dir

        options = EvaluatorOptions.from_config(cfg, cache=cache_dir())
        data_options = DataOptions.from_config(cfg)
        key = repr((options, data_options, cfg.dataset, cfg.resolution, cfg.channels))
        if key not in self.evaluators:
            data = load_dataset(cfg.dataset, cfg.resolution, cfg.channels, data_options)
            self.evaluators[key] = Evaluator(data, options, self.device)
        return self.evaluators[key]

    def _intact(self, path: str) -> bool:
        try:
            with self.fs.open_input_file(path) as f:
                return pq.read_table(f).num_rows > 0
        except (FileNotFoundError, pa.ArrowException, OSError):
            return False


def _rows(target: Target, generator_sha256: str, cfg: Any, evaluator: Any, result: Any, wall: float,
          metrics: Iterable[str]) -> list[dict[str, Any]]:
    """One row per result column of the asked metrics (and fid)."""
    import torch

    from study.gan.device import device_name

    values = {"fid": result.fid, **{k: v for k, v in result.extra.items() if isinstance(v, float)}}
    names = {c: name for name in ("fid", *metrics) for c in COLUMNS.get(name, ())}
    common = {"study": target.study, "model": target.model, "phase": target.phase, "trial_key": target.trial_key,
              "rank": target.rank, "feature_extractor": evaluator.extractor.name, "fid_resize": cfg.fid_resize,
              "fid_samples": evaluator.samples, "fid_split": evaluator.split,
              "fid_real_samples": evaluator.real_samples, "fid_real_stats_sha256": evaluator.stats_sha256,
              "generator_sha256": generator_sha256, "study_best_fid": target.best_fid,
              "device_name": device_name(evaluator.device), "hostname": socket.gethostname(),
              "torch_version": str(torch.__version__), "wall_time_s": wall,
              "timestamp": datetime.now(timezone.utc)}
    return [{**common, "metric": column, "metric_name": names[column], "value": float(values.get(column, math.nan)),
             # fd_dinov2 is in DINOv2 ViT-L/14 space whatever the main extractor: its own weights
             "feature_weights_sha256": evaluator.fd_dinov2_weights_sha256 if column == "fd_dinov2"
             else evaluator.weights_sha256} for column in names]


def _write(fs: pafs.FileSystem, path: str, rows: list[dict[str, Any]]) -> None:
    """The rows as one Parquet file, in place only once complete (a temporary name, then a move)."""
    tmp = f"{path.rsplit('/', 1)[0]}/.{path.rsplit('/', 1)[1]}.tmp"
    with fs.open_output_stream(tmp) as f:
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), f)
    fs.move(tmp, path)
