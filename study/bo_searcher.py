"""Sequential Bayesian optimisation in rounds, for every model of a study at once.

Kurach et al. 2019 (Table 2): per model, 120 settings in 12 rounds of 10, a round suggested
only after the previous one has finished. One Optuna study and one round barrier per model,
all behind a single Ray Tune ``Searcher``, so every model's round is in flight together and a
large cluster stays full (one ``ConcurrencyLimiter(batch=True)`` would serve a single model).

A trial that errors, diverges or reports a non-finite FID reaches Optuna as FAIL (never left
RUNNING, which would bias later rounds) and still counts towards its round.
"""
from __future__ import annotations

import math
import pickle
from typing import Any

import optuna
from ray.tune.search import Searcher

from study.spec import Model, StudySpec

METRIC = "fid"


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"bo.sampler: unknown sampler {name!r}; allowed: gp, tpe, random")


class RoundsSearcher(Searcher):
    """Suggests BO trials round by round, per model; returns FINISHED when all rounds are done."""

    def __init__(self, spec: StudySpec) -> None:
        super().__init__(metric=METRIC, mode="min")
        assert spec.bo is not None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec = spec
        self.bo = spec.bo
        self.models: list[Model] = spec.models()
        self.studies = {
            m.name: optuna.create_study(direction="minimize", study_name=m.name,
                                        sampler=make_sampler(self.bo.sampler, self.bo.seed + i))
            for i, m in enumerate(self.models)
        }
        self.round = {m.name: 0 for m in self.models}
        self.issued = {m.name: 0 for m in self.models}  # suggested in the current round
        self.finished = {m.name: 0 for m in self.models}  # finished in the current round
        self.live: dict[str, tuple[Model, optuna.trial.Trial, int]] = {}
        self.blocked: set[str] = set()  # models whose BO may not start yet (waiting for a warm start)
        self._cursor = 0
        self.threads = max(1, int(spec.resources.cpu))

    def resume(self, finished: list[dict[str, Any]]) -> int:
        """Continue a BO phase from the final rows a previous run stored: each model's Optuna
        study is told those trials again (``add_trial``, nothing re-runs), the completed rounds
        are counted as done and the current round keeps the trials it already finished. Trials
        that were in flight are forgotten (their suggestions are made anew). Returns how many
        trials are still to run."""
        by_name = {m.name: m for m in self.models}
        per_round = self.bo.trials_per_round
        for model in self.models:
            rows = sorted((r for r in finished if r["model"] == model.name and r["bo_round"] is not None),
                          key=lambda r: (r["bo_round"], r["timestamp"] or 0))
            for r in rows:
                self._add(by_name[model.name], r)
            counts: dict[int, int] = {}
            for r in rows:
                counts[r["bo_round"]] = counts.get(r["bo_round"], 0) + 1
            rnd = 0
            while counts.get(rnd, 0) >= per_round:
                rnd += 1
            self.round[model.name] = rnd
            self.issued[model.name] = self.finished[model.name] = counts.get(rnd, 0) if rnd < self.bo.rounds else 0
        done = sum(min(self.round[m.name], self.bo.rounds) * per_round + self.finished[m.name] for m in self.models)
        return len(self.models) * self.bo.rounds * per_round - done

    def _add(self, model: Model, row: dict[str, Any]) -> None:
        space = self.spec.bo_space(model)
        fid = row.get("fid")
        ok = row.get("status") == "ok" and isinstance(fid, float) and math.isfinite(fid)
        self.studies[model.name].add_trial(optuna.trial.create_trial(
            params={k: row[k] for k in space},
            distributions={k: optuna.distributions.FloatDistribution(r.low, r.high, log=r.log) for k, r in space.items()},
            value=fid if ok else None, state=optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.FAIL))

    def warm_start(self, results: list[dict[str, Any]]) -> int:
        """Tell each model's study the finished grid trials whose settings lie in its BO space
        (Optuna ``add_trial``, no re-run); return how many were added. A grid setting outside
        the space (e.g. n_dis other than the BO phase's) is left out."""
        by_name = {m.name: m for m in self.models}
        added = 0
        for row in results:
            model = by_name.get(row["model"])
            if model is None or row.get("n_dis") != self.bo.n_dis:
                continue
            space = self.spec.bo_space(model)
            if not all(r.low <= row[k] <= r.high for k, r in space.items()):
                continue
            self._add(model, row)
            added += 1
        return added

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space comes from the study spec, not from Tune's param_space

    def _open(self, model: Model) -> bool:
        return (model.name not in self.blocked and self.round[model.name] < self.bo.rounds
                and self.issued[model.name] < self.bo.trials_per_round)

    def suggest(self, trial_id: str) -> dict[str, Any] | None | str:
        n = len(self.models)
        for offset in range(n):
            model = self.models[(self._cursor + offset) % n]
            if self._open(model):
                self._cursor = (self._cursor + offset + 1) % n
                return self._ask(trial_id, model)
        if all(self.round[m.name] >= self.bo.rounds for m in self.models):
            return Searcher.FINISHED
        return None  # every model waits for its round to finish

    def _ask(self, trial_id: str, model: Model) -> dict[str, Any]:
        study = self.studies[model.name]
        distributions = {
            k: optuna.distributions.FloatDistribution(r.low, r.high, log=r.log)
            for k, r in self.spec.bo_space(model).items()
        }
        trial = study.ask(distributions)
        hyper = dict(trial.params)
        cfg = self.spec.config(model, **hyper, n_dis=self.bo.n_dis)
        rnd = self.round[model.name]
        self.issued[model.name] += 1
        self.live[trial_id] = (model, trial, rnd)
        return {"cfg": {"trial": {**cfg.to_dict(), "threads": self.threads},
                        "meta": {"phase": "bo", "bo_round": rnd, "model": model.name,
                                 "trial_key": cfg.key(self.spec.name, "bo", str(trial.number))}}}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.live:
            return
        model, trial, _ = self.live.pop(trial_id)
        value = (result or {}).get(METRIC)
        ok = (not error and result is not None and result.get("status") == "ok"
              and isinstance(value, (int, float)) and math.isfinite(value))
        study = self.studies[model.name]
        if ok:
            study.tell(trial, float(value))
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.finished[model.name] += 1
        if self.finished[model.name] >= self.bo.trials_per_round:
            self.round[model.name] += 1
            self.issued[model.name] = self.finished[model.name] = 0

    # ---- checkpointing (Tune saves the searcher with the experiment) ---------------------
    _STATE = ("studies", "round", "issued", "finished", "live", "blocked", "_cursor")

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({k: getattr(self, k) for k in self._STATE}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            for k, v in pickle.load(f).items():
                setattr(self, k, v)
