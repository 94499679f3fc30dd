"""The study file (YAML) -> a validated, frozen StudySpec.

Everything is checked here, before anything runs or is written: unknown keys, bad types,
unknown registry names, empty grids and impossible values are errors naming the field.

A study file::

    name: demo
    factors: {loss: [ns, wgan], d_norm: [none, bn, sn]}   # each combination is one model
    trial: {dataset: digits, resolution: 16, steps: 300}  # TrialConfig settings for all
    grid: {preset: kurach2019, select: [1, 9], where: {n_dis: 1}, seeds: [0]}
    bo: {preset: kurach2019, rounds: 12, trials_per_round: 10, sampler: gp, seed: 0, n_dis: 1,
         warm_start: false}
    resources: {cpu: 1, gpu: 0, fuse: 1}  # fuse: up to N trials of one model train as one fused group
    max_failures: 1

    seeds: {count: 50, from: [grid, bo]}   # then: each model's best setting with 50 more seeds
    keep_generators: 1                     # per model, keep the generators of the k best trials
    early_stopping: {scheduler: asha, grace_steps: 500, reduction_factor: 3}   # opt-in; or median
    tensorboard: true                      # opt-in: <study>/tensorboard, one run per trial

A factor may also bundle settings under names: ``factors: {objective: {ns: {loss: ns},
wgan_gp: {loss: wgan, penalty: gp}}}`` is one factor, ``objective``, with two values, each
setting its TrialConfig fields (``{}`` or null: none). Its name is no TrialConfig field, and a
field is set by one factor (or ``trial``) only; the model reads ``objective=wgan_gp``.

``grid`` or ``bo`` may be left out (or set to null) to skip that phase. A key given twice in
the file is an error (YAML would silently keep the last), and ``1e-4`` is a number (YAML 1.2),
not the string PyYAML's YAML 1.1 rules make of it.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from search_spaces.kurach2019 import BO_SPACES, GRIDS, Range
from study.gan.config import MAX_SEED, ConfigError, TrialConfig

SEARCHED = ("lr", "beta1", "beta2", "n_dis", "penalty_lambda")  # set by the grid or BO
SAMPLERS = ("gp", "tpe", "random")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class GridSpec:
    preset: str
    settings: tuple[tuple[int, Mapping[str, Any]], ...]  # (index in the preset, hyperparameters)
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class BOSpec:
    preset: str
    rounds: int
    trials_per_round: int
    sampler: str
    seed: int
    n_dis: int = 1  # not searched in Table 2; the paper's BO models use 1
    warm_start: bool = False  # tell each model's Optuna study its grid results before round 0


@dataclass(frozen=True)
class SeedsSpec:
    """Re-run each model's best setting with ``count`` more seeds (Lucic et al. 2018)."""

    count: int
    phases: tuple[str, ...] = ("grid", "bo")


STOPPERS = ("asha", "median")


@dataclass(frozen=True)
class EarlyStoppingSpec:
    """Opt-in early stopping over FID by a Ray Tune scheduler (off by default: the paper trains
    every trial to the end). ``asha``: asynchronous successive halving (Li et al. 2020) with rungs
    at ``grace_steps`` x ``reduction_factor``^i training steps; ``median``: the median stopping
    rule (Golovin et al. 2017) after ``grace_steps``, once ``min_samples`` trials reported there.
    Only trials of ``phases`` are stopped (the seeds phase always trains to the end)."""

    scheduler: str = "asha"
    grace_steps: int = 0  # 0: the study's first evaluation (the smallest eval_every)
    reduction_factor: int = 3
    min_samples: int = 3
    phases: tuple[str, ...] = ("grid", "bo")


@dataclass(frozen=True)
class Resources:
    """What one Tune trial holds; ``fuse`` > 1: that trial trains up to ``fuse`` trials of one
    model together as a fused group (study/gan/fused/), e.g. ``{gpu: 1, fuse: 10}`` for a BO round."""

    cpu: float = 1.0
    gpu: float = 0.0
    fuse: int = 1


@dataclass(frozen=True)
class Model:
    """One combination of the study's factors, e.g. loss=ns x d_norm=sn."""

    factors: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.factors)


@dataclass(frozen=True)
class StudySpec:
    name: str
    factors: tuple[tuple[str, tuple[Any, ...]], ...]
    trial: Mapping[str, Any]
    grid: GridSpec | None
    bo: BOSpec | None
    resources: Resources = field(default_factory=Resources)
    max_failures: int = 1
    seeds: SeedsSpec | None = None
    keep_generators: int = 1  # per model, the generators of this many best trials (by FID) are kept
    early_stopping: EarlyStoppingSpec | None = None
    tensorboard: bool = False  # one TensorBoard run per trial in <study>/tensorboard (study/engine/tune/tensorboard.py)
    bundles: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)  # factor -> value -> settings

    def models(self) -> list[Model]:
        names = [k for k, _ in self.factors]
        return [Model(tuple(zip(names, combo))) for combo in itertools.product(*(v for _, v in self.factors))]

    def config(self, model: Model, **hyper: Any) -> TrialConfig:
        settings: dict[str, Any] = {}
        for k, v in model.factors:
            settings.update(self.bundles[k][v] if k in self.bundles else {k: v})
        return TrialConfig.from_dict({**self.trial, **settings, **hyper})

    def grid_trials(self) -> list[tuple[Model, int, TrialConfig]]:
        """(model, index of the grid setting, config) for every model x setting x seed, deduplicated."""
        if self.grid is None:
            return []
        out, seen = [], set()
        for model in self.models():
            for index, hyper in self.grid.settings:
                for seed in self.grid.seeds:
                    cfg = self.config(model, **{"seed": seed, **hyper})  # a preset row's own seed wins
                    key = cfg.key(self.name, "grid")
                    if key not in seen:  # lambda is moot without a penalty: settings collapse
                        seen.add(key)
                        out.append((model, index, cfg))
        return out

    def bo_space(self, model: Model) -> dict[str, Range]:
        assert self.bo is not None
        from study.gan.penalties import PENALTIES

        return BO_SPACES[self.bo.preset](PENALTIES.get(self.config(model).penalty).lambda_range)


# ---- parsing ------------------------------------------------------------------------------
class _StudyLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys and reads 1e-4 / 5E+3 as floats (YAML 1.2)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"study file: key {key!r} appears twice (lines {seen[key] + 1} and "
                                  f"{key_node.start_mark.line + 1}); give each key once")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def load_yaml(text: str, where: str = "study file") -> Any:
    try:
        return yaml.load(text, Loader=_StudyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML: {e}") from None


def load_spec(path: str | Path) -> StudySpec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"study file: cannot read {path}: {e.strerror}") from None
    return parse_spec(load_yaml(text, f"study file {path}"))


def read_spec_file(study_dir: str) -> tuple[StudySpec, str]:
    """The study recorded in a study directory (any pyarrow URI): its spec and its text."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(study_dir) if "://" in study_dir else (pafs.LocalFileSystem(), study_dir)
    path = f"{root.rstrip('/')}/study.yaml"
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise FileNotFoundError(f"study_dir: no study.yaml in {study_dir}; is it a study directory?")
    with fs.open_input_stream(path) as f:
        text = f.read().decode()
    return parse_spec(load_yaml(text, f"{study_dir}/study.yaml")), text


def _mapping(where: str, value: Any, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {value!r} ({type(value).__name__})")
    for k in value:
        if k not in allowed:
            raise ConfigError(f"{where}.{k}: unknown key; allowed: {', '.join(allowed)}")
    for k in required:
        if k not in value:
            raise ConfigError(f"{where}.{k}: missing; it is required")
    return dict(value)


def _int(where: str, value: Any, low: int, high: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        allowed = f"an integer >= {low}" if high == 2**31 - 1 else f"an integer from {low} to {high}"
        raise ConfigError(f"{where}: invalid value {value!r}; allowed: {allowed}")
    return value


def _number(where: str, value: Any, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise ConfigError(f"{where}: invalid value {value!r}; allowed: a number >= {low}")
    return float(value)


def _int_list(where: str, value: Any, low: int, high: int = 2**31 - 1) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: invalid value {value!r}; allowed: a non-empty list of integers")
    return tuple(_int(f"{where}[{i}]", v, low, high) for i, v in enumerate(value))


def parse_spec(data: Any) -> StudySpec:
    top = _mapping("study", data, ("name", "factors", "trial", "grid", "bo", "seeds", "resources", "max_failures",
                                   "keep_generators", "early_stopping", "tensorboard"), required=("name",))
    name = top["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"name: invalid value {name!r}; allowed: 1-64 letters, digits, '_', '-', '.'")

    trial = _mapping("trial", {} if top.get("trial") is None else top["trial"],
                     tuple(f.name for f in fields(TrialConfig)))
    for k in SEARCHED:
        if k in trial:
            raise ConfigError(f"trial.{k}: set by the grid and BO phases; remove it from 'trial'")

    raw = {} if top.get("factors") is None else top["factors"]
    bundles = _parse_bundles(raw, trial)
    # checked only: a mapping whose plain factors name TrialConfig fields
    _mapping("factors", {k: v for k, v in raw.items() if k not in bundles} if isinstance(raw, Mapping)
             else raw, tuple(f.name for f in fields(TrialConfig)))
    factors = []
    for k, values in raw.items() if isinstance(raw, Mapping) else ():
        if k in bundles:
            factors.append((k, tuple(bundles[k])))
            continue
        if k in SEARCHED or k == "seed":
            raise ConfigError(f"factors.{k}: searched by the grid and BO phases, it cannot be a factor")
        if k == "sample_seed":
            raise ConfigError("factors.sample_seed: one per study, so that every trial's grid comes from the same "
                              "latents; set it in 'trial'")
        if k in trial:
            raise ConfigError(f"factors.{k}: also fixed in 'trial'; set it in one place")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"factors.{k}: invalid value {values!r}; allowed: a non-empty list")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"factors.{k}: repeated values in {values!r}")
        factors.append((k, tuple(values)))

    grid = _parse_grid(top["grid"]) if top.get("grid") is not None else None
    bo = _parse_bo(top["bo"]) if top.get("bo") is not None else None
    if grid is None and bo is None:
        raise ConfigError("study: neither 'grid' nor 'bo' is set; a study needs at least one phase")

    res = _mapping("resources", {} if top.get("resources") is None else top["resources"], ("cpu", "gpu", "fuse"))
    resources = Resources(cpu=_number("resources.cpu", res.get("cpu", 1), 0.01),
                          gpu=_number("resources.gpu", res.get("gpu", 0), 0.0),
                          fuse=_int("resources.fuse", res.get("fuse", 1), 1))
    if resources.gpu > 1 and resources.gpu != int(resources.gpu):
        raise ConfigError(f"resources.gpu: invalid value {resources.gpu}; allowed: a fraction <= 1 or a whole number")
    max_failures = _int("max_failures", top.get("max_failures", 1), 0)

    seeds = _parse_seeds(top["seeds"]) if top.get("seeds") is not None else None
    keep = _int("keep_generators", top.get("keep_generators", 1), 0)
    stopping = _parse_early_stopping(top["early_stopping"]) if top.get("early_stopping") is not None else None
    if stopping is not None and resources.fuse > 1:
        raise ConfigError(f"resources.fuse: invalid value {resources.fuse} with early_stopping; allowed: 1 (a fused "
                          "group is one Tune trial, which the early-stopping scheduler would stop as a whole)")
    tensorboard = top.get("tensorboard", False)
    if not isinstance(tensorboard, bool):
        raise ConfigError(f"tensorboard: invalid value {tensorboard!r}; allowed: true, false")
    spec = StudySpec(name, tuple(factors), trial, grid, bo, resources, max_failures, seeds, keep, stopping,
                     tensorboard, bundles)
    # Validate every trial the study can produce, before anything runs.
    for model in spec.models():
        try:
            spec.config(model)
        except ConfigError as e:
            raise ConfigError(f"{e} (in model {model.name or 'default'})") from None
    spec.grid_trials()
    for model in spec.models():
        if spec.config(model).device == "cuda" and resources.gpu == 0:
            raise ConfigError(f"trial.device: 'cuda' needs a GPU per trial, but resources.gpu is 0 (in model "
                              f"{model.name or 'default'}); set resources.gpu (e.g. 0.25 or 1) or device: auto")
    return spec


def _parse_bundles(raw: Any, trial: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The factors given as mappings (value name -> settings), validated."""
    if not isinstance(raw, Mapping):
        return {}
    config_fields = tuple(f.name for f in fields(TrialConfig))
    bundles: dict[str, dict[str, dict[str, Any]]] = {}
    set_by: dict[str, str] = {k: "trial" for k in trial}
    set_by.update({k: f"factors.{k}" for k, v in raw.items() if not isinstance(v, Mapping)})
    for k, values in raw.items():
        if not isinstance(values, Mapping):
            continue
        from study.engine.schema import SCHEMA

        if k in SCHEMA.names or not NAME_RE.match(str(k)):  # the analysis makes it a column of its own
            raise ConfigError(f"factors.{k}: a factor of named settings needs a name that is no trial setting "
                              f"or result column (letters, digits, '_', '-', '.')")
        if not values:
            raise ConfigError(f"factors.{k}: invalid value {{}}; allowed: a non-empty mapping of names to settings")
        bundles[k] = {}
        for name, settings in values.items():
            where = f"factors.{k}.{name}"
            if not NAME_RE.match(str(name)):
                raise ConfigError(f"{where}: invalid name; allowed: 1-64 letters, digits, '_', '-', '.'")
            settings = _mapping(where, {} if settings is None else settings, config_fields)
            for field_name in settings:
                if field_name in SEARCHED or field_name == "seed":
                    raise ConfigError(f"{where}.{field_name}: searched by the grid and BO phases, "
                                      "it cannot be a factor")
                owner = set_by.get(field_name)
                if owner is not None and owner != f"factors.{k}":
                    raise ConfigError(f"{where}.{field_name}: also set by {owner}; set it in one place")
            for field_name in settings:
                set_by[field_name] = f"factors.{k}"
            bundles[k][str(name)] = settings
    return bundles


def _parse_grid(raw: Any) -> GridSpec:
    g = _mapping("grid", raw, ("preset", "select", "where", "seeds"))
    preset = g.get("preset", "kurach2019")
    if preset not in GRIDS:
        raise ConfigError(f"grid.preset: unknown preset {preset!r}; allowed: {', '.join(GRIDS)}")
    table = GRIDS[preset]
    settings = list(enumerate(table))
    if "select" in g:
        idx = _int_list("grid.select", g["select"], 0)
        for i in idx:
            if i >= len(table):
                raise ConfigError(f"grid.select: index {i} out of range; allowed: 0..{len(table) - 1}")
        settings = [s for s in settings if s[0] in set(idx)]
    if "where" in g:
        where = _mapping("grid.where", g["where"],
                         tuple(dict.fromkeys([*SEARCHED, *(k for row in table for k in row)])))
        for k, v in where.items():
            allowed = sorted({row[k] for row in table if k in row})
            vals = v if isinstance(v, list) else [v]
            for x in vals:
                if x not in allowed:
                    raise ConfigError(f"grid.where.{k}: value {x!r} is not in the preset; allowed: {allowed}")
            settings = [s for s in settings if s[1].get(k) in vals]
    if not settings:
        raise ConfigError("grid: the selection is empty; no grid setting matches 'select' and 'where'")
    seeds = _int_list("grid.seeds", g.get("seeds", [0]), 0, MAX_SEED)
    return GridSpec(preset, tuple(settings), seeds)


def _parse_early_stopping(raw: Any) -> EarlyStoppingSpec:
    e = _mapping("early_stopping", raw, ("scheduler", "grace_steps", "reduction_factor", "min_samples", "phases"))
    scheduler = e.get("scheduler", "asha")
    if scheduler not in STOPPERS:
        raise ConfigError(f"early_stopping.scheduler: invalid value {scheduler!r}; allowed: {', '.join(STOPPERS)}")
    phases = e.get("phases", ["grid", "bo"])
    if not isinstance(phases, list) or not phases or any(p not in ("grid", "bo") for p in phases):
        raise ConfigError(f"early_stopping.phases: invalid value {phases!r}; allowed: a non-empty list of grid, bo")
    return EarlyStoppingSpec(scheduler, _int("early_stopping.grace_steps", e.get("grace_steps", 0), 0),
                             _int("early_stopping.reduction_factor", e.get("reduction_factor", 3), 2),
                             _int("early_stopping.min_samples", e.get("min_samples", 3), 1), tuple(phases))


def _parse_seeds(raw: Any) -> SeedsSpec:
    s = _mapping("seeds", raw, ("count", "from"), required=("count",))
    phases = s.get("from", ["grid", "bo"])
    if not isinstance(phases, list) or not phases or any(p not in ("grid", "bo") for p in phases):
        raise ConfigError(f"seeds.from: invalid value {phases!r}; allowed: a non-empty list of grid, bo")
    return SeedsSpec(_int("seeds.count", s["count"], 1), tuple(phases))


def _parse_bo(raw: Any) -> BOSpec:
    b = _mapping("bo", raw, ("preset", "rounds", "trials_per_round", "sampler", "seed", "n_dis", "warm_start"))
    warm = b.get("warm_start", False)
    if not isinstance(warm, bool):
        raise ConfigError(f"bo.warm_start: invalid value {warm!r}; allowed: true, false")
    preset = b.get("preset", "kurach2019")
    if preset not in BO_SPACES:
        raise ConfigError(f"bo.preset: unknown preset {preset!r}; allowed: {', '.join(BO_SPACES)}")
    sampler = b.get("sampler", "gp")
    if sampler not in SAMPLERS:
        raise ConfigError(f"bo.sampler: invalid value {sampler!r}; allowed: {', '.join(SAMPLERS)}")
    return BOSpec(preset, _int("bo.rounds", b.get("rounds", 12), 1),
                  _int("bo.trials_per_round", b.get("trials_per_round", 10), 1),
                  sampler, _int("bo.seed", b.get("seed", 0), 0, MAX_SEED), _int("bo.n_dis", b.get("n_dis", 1), 1), warm)
