"""Growing a study: which changes of a study file an existing study directory accepts.

A study grows by what its file adds (more BO rounds, grid rows or seeds, a seeds phase or more
seeds in it, new levels of a factor, each a new model with its own grid and BO). What would
change the meaning of a trial already run (its settings, steps, dataset, evaluation protocol,
the BO space or sampler of a model with BO history, what decides a finished seeds phase) is
refused, every such field listed with its old and new value, so that the grown study is the
study an uninterrupted run of the larger file would be.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from study.engine.spec import StudySpec
from study.gan.config import EXECUTION_ONLY, ConfigError, TrialConfig

BO_FIXED = ("preset", "trials_per_round", "sampler", "seed", "n_dis", "warm_start")  # a BO history's meaning


@dataclass(frozen=True)
class History:
    """What a study directory has run: models with any BO trial (rows or Optuna journal), and
    whether any grid or seeds trial has rows."""

    bo_models: frozenset[str] = frozenset()
    grid_ran: bool = False
    seeds_ran: bool = False


def _change(field: str, old: Any, new: Any, why: str) -> str:
    return f"{field}: {old!r} -> {new!r} ({why})"


def _name_and_factors(old: StudySpec, new: StudySpec) -> list[str]:
    out = []
    if old.name != new.name:
        out.append(_change("name", old.name, new.name, "every trial key holds the study name"))
    old_f, new_f = dict(old.factors), dict(new.factors)
    if list(old_f) != list(new_f):
        out.append(_change("factors", list(old_f), list(new_f), "factors may gain levels, not be added, removed "
                           "or reordered: every model's name would change"))
        return out
    for k, values in old_f.items():
        if not set(values) <= set(new_f[k]):
            out.append(_change(f"factors.{k}", list(values), list(new_f[k]), "a level may be added, none removed"))
    return out


def _metric_set(metrics: str) -> set[str]:
    return {m.strip() for m in metrics.split("+") if m.strip()} | {"fid"}


def current_keys(spec: StudySpec, final: list[dict[str, Any]]) -> set[str]:
    """The keys finished grid and seeds trials have under ``spec``'s metrics. A study grown by
    metrics (``trial.metrics: fid -> fid+kid``) computes them in the evaluations still to come:
    a trial that finished keeps its rows and counts as done under its key with the new metrics."""
    wanted = {m.name: spec.config(m).metrics for m in spec.models()}
    names = {f.name for f in fields(TrialConfig)}
    out = set()
    for r in final:
        want = wanted.get(r["model"])
        if r["phase"] in ("grid", "seeds") and want is not None and r.get("metrics") not in (None, want):
            cfg = TrialConfig.from_dict({k: v for k, v in r.items() if k in names})
            out.add(replace(cfg, metrics=want).key(spec.name, r["phase"]))
    return out


def _settings(old: StudySpec, new: StudySpec) -> list[str]:
    """Settings of each model both files have, field by field (execution-only fields may change)."""
    names = {m.name for m in new.models()}
    seen: dict[str, str] = {}
    for model in old.models():
        if model.name not in names:
            continue
        a, b = old.config(model).to_dict(), new.config(model).to_dict()
        for k in a:
            if a[k] != b[k] and k not in EXECUTION_ONLY and k not in seen and not (
                    k == "metrics" and _metric_set(a[k]) <= _metric_set(b[k])):  # for evaluations still to come
                seen[k] = _change(f"trial.{k}", a[k], b[k], f"the setting of finished trials, e.g. of {model.name}")
    return list(seen.values())


def _grid(old: StudySpec, new: StudySpec) -> list[str]:
    if old.grid is None:
        return []
    if new.grid is None:
        return [_change("grid", "set", None, "the grid phase cannot be removed")]
    out = []
    if old.grid.preset != new.grid.preset:
        out.append(_change("grid.preset", old.grid.preset, new.grid.preset, "the grid's rows would change"))
    elif not {i for i, _ in old.grid.settings} <= {i for i, _ in new.grid.settings}:
        out.append(_change("grid.select", [i for i, _ in old.grid.settings], [i for i, _ in new.grid.settings],
                           "rows may be added, none removed"))
    if not set(old.grid.seeds) <= set(new.grid.seeds):
        out.append(_change("grid.seeds", list(old.grid.seeds), list(new.grid.seeds),
                           "seeds may be added, none removed"))
    return out


def _bo(old: StudySpec, new: StudySpec, history: History) -> list[str]:
    if old.bo is None:
        return []
    if new.bo is None:
        return [_change("bo", "set", None, "the BO phase cannot be removed")]
    out = []
    if new.bo.rounds < old.bo.rounds:
        out.append(_change("bo.rounds", old.bo.rounds, new.bo.rounds, "rounds may be added, none removed"))
    ran = sorted(history.bo_models & {m.name for m in old.models()})
    for k in BO_FIXED if ran else ():
        a, b = getattr(old.bo, k), getattr(new.bo, k)
        if a != b:
            out.append(_change(f"bo.{k}", a, b, f"models {', '.join(ran)} already have BO trials"))
    return out


def _seeds(old: StudySpec, new: StudySpec, history: History) -> list[str]:
    if old.seeds is None or not history.seeds_ran:
        return []
    if new.seeds is None:
        return [_change("seeds", "set", None, "the seeds phase has run; it cannot be removed")]
    out = []
    if new.seeds.count < old.seeds.count:
        out.append(_change("seeds.count", old.seeds.count, new.seeds.count, "seeds may be added, none removed"))
    if new.seeds.phases != old.seeds.phases:
        out.append(_change("seeds.from", list(old.seeds.phases), list(new.seeds.phases),
                           "it chose the best setting the seeds phase re-ran"))
    return out


def _growth(old: StudySpec, new: StudySpec) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for what adds trials to the models the old file already had."""
    out = []
    if new.grid is not None and (old.grid is None or len(new.grid.settings) > len(old.grid.settings)):
        out.append(("grid.select", old.grid and [i for i, _ in old.grid.settings], [i for i, _ in new.grid.settings]))
    if new.grid is not None and old.grid is not None and set(new.grid.seeds) > set(old.grid.seeds):
        out.append(("grid.seeds", list(old.grid.seeds), list(new.grid.seeds)))
    if new.bo is not None and (old.bo is None or new.bo.rounds > old.bo.rounds):
        out.append(("bo.rounds", old.bo and old.bo.rounds, new.bo.rounds))
    return out


def _order(old: StudySpec, new: StudySpec, history: History) -> list[str]:
    """Growth that an uninterrupted study would have run before something that already ran."""
    out = []
    warm = old.bo is not None and old.bo.warm_start and history.bo_models
    for field, a, b in _growth(old, new):
        if history.seeds_ran and old.seeds is not None:
            out.append(_change(field, a, b, "the seeds phase already re-ran each model's best setting, which more "
                               "grid or BO trials could change"))
        elif warm and field.startswith("grid"):
            out.append(_change(field, a, b, "bo.warm_start: the BO phase already started from the old grid"))
    if old.early_stopping != new.early_stopping and (history.grid_ran or history.bo_models or history.seeds_ran):
        out.append(_change("early_stopping", old.early_stopping, new.early_stopping,
                           "it decided which finished trials were stopped"))
    return out


def refused_changes(old: StudySpec, new: StudySpec, history: History) -> list[str]:
    """Every change of ``new`` against ``old`` that would alter what a finished trial means."""
    out = _name_and_factors(old, new)
    if out:
        return out  # the models do not correspond: nothing else can be compared
    return _settings(old, new) + _grid(old, new) + _bo(old, new, history) + _seeds(old, new, history) \
        + _order(old, new, history)


def check_extension(old: StudySpec, new: StudySpec, history: History) -> None:
    """Raise one ConfigError listing every refused change (old and new value of each)."""
    refused = refused_changes(old, new, history)
    if refused:
        raise ConfigError("extend: the study file changes what finished trials mean; refused:\n  "
                          + "\n  ".join(refused) + "\nkeep these fields as they were, or run the new file "
                          "in another directory")


def journal_models(study_dir: str) -> set[str]:
    """Models whose Optuna study in the study directory's journal holds any trial ({} without one)."""
    from pathlib import Path

    if "://" in study_dir and not study_dir.startswith("file://"):
        return set()
    path = Path(study_dir.removeprefix("file://")) / "optuna" / "journal.log"
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False) if s.n_trials}


def history_of(rows: list[dict[str, Any]], study_dir: str) -> History:
    """What the rows (any, final or not) and the Optuna journal of a study directory say has run."""
    phases = {r["phase"] for r in rows}
    bo = {r["model"] for r in rows if r["phase"] == "bo"} | journal_models(study_dir)
    return History(frozenset(bo), "grid" in phases, "seeds" in phases)


def extend_study(study_dir: str, spec: StudySpec, spec_text: str, rows: list[dict[str, Any]], log=print,
                 write: bool = True) -> bool:
    """Check ``spec`` against the study the directory holds (ConfigError listing every refused
    change) and, with ``write``, record it as the study's next version. A directory without a
    study, or with the same study file, is left as it is. Whether ``spec`` is a new version."""
    from study.engine.spec import load_yaml, read_spec_file
    from study.engine.versions import record_version

    try:
        old, old_text = read_spec_file(study_dir)
    except FileNotFoundError:
        return False
    if load_yaml(old_text) == load_yaml(spec_text):
        return False
    check_extension(old, spec, history_of(rows, study_dir))
    if write:
        version = record_version(study_dir, old_text, spec_text)
        log(f"study {spec.name!r} extended: version {version.number} ({version.file}); finished trials are kept")
    return True
