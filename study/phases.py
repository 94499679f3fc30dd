"""A study's three phases behind one Ray Tune ``Searcher``, gated per model, not per phase.

Grid (Kurach et al. 2019, Table 1), Bayesian optimisation in rounds (Table 2, via
``RoundsSearcher``) and the seeds phase (each model's best setting re-run with more seeds,
Lucic et al. 2018) run in one Tuner, so that a slot freed at the end of one phase takes the
next phase's work at once instead of waiting for the slowest trial of the phase, and the trial
processes (torch imported, caches warm) serve the whole study. What must wait, waits per model:
with ``bo.warm_start`` a model's BO begins once its own grid trials are finished; a model's seeds
begin once its own trials of the phases ``seeds.from`` names are. Suggestions come grid first,
then BO, then seeds.

The store is the source of truth: the searcher starts from the rows a study directory already
holds (finished trials are never suggested again, BO rounds continue) and is told each trial's
final FID and status by Tune.
"""
from __future__ import annotations

import dataclasses
import math
import pickle
from collections import deque
from typing import Any

from ray.tune.search import Searcher

from study.bo_searcher import METRIC, RoundsSearcher
from study.config import TrialConfig
from study.spec import StudySpec

PHASES = ("grid", "bo", "seeds")


def seed_trials(spec: StudySpec, rows: list[dict[str, Any]]) -> list[tuple[str, TrialConfig]]:
    """Each model's best setting (lowest final FID among the phases ``seeds.phases`` name),
    re-run with ``seeds.count`` other seeds (Lucic et al. 2018, Sec. 6)."""
    assert spec.seeds is not None
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        fid = r.get("fid")
        if (r["is_final"] and r["phase"] in spec.seeds.phases and r["status"] == "ok"
                and isinstance(fid, (int, float)) and math.isfinite(fid)
                and (r["model"] not in best or fid < best[r["model"]]["fid"])):
            best[r["model"]] = r
    fields = {f.name for f in dataclasses.fields(TrialConfig)}
    out = []
    for model in spec.models():
        if model.name not in best:
            continue
        cfg = TrialConfig.from_dict({k: v for k, v in best[model.name].items() if k in fields})
        seeds = [s for s in range(spec.seeds.count + 1) if s != cfg.seed][: spec.seeds.count]
        out += [(model.name, dataclasses.replace(cfg, seed=s)) for s in seeds]
    return out


class PhasedSearcher(Searcher):
    """Suggests every trial a study still needs; ``FINISHED`` once all are suggested."""

    def __init__(self, spec: StudySpec, stored: list[dict[str, Any]], threads: int = 1, log=print) -> None:
        super().__init__(metric=METRIC, mode="min")
        self.spec, self.threads, self.log = spec, threads, log
        self.models = [m.name for m in spec.models()]
        final = [r for r in stored if r["is_final"]]
        self.done_keys = {r["trial_key"] for r in final}
        # final rows of this study's grid and BO trials, stored or finished now: warm start and seeds
        self.results = [r for r in final if r["phase"] in ("grid", "bo")]
        self.live: dict[str, tuple[str, str, dict[str, Any]]] = {}  # trial id -> (phase, model, cfg)
        self.suggested = {p: 0 for p in PHASES}

        grid = [(m.name, cfg) for m, _, cfg in spec.grid_trials()]
        self.grid = deque(self._item("grid", model, cfg) for model, cfg in grid
                          if cfg.key(spec.name, "grid") not in self.done_keys)
        self.grid_left = {m: sum(1 for item in self.grid if item["meta"]["model"] == m) for m in self.models}
        log(f"grid phase: {len(self.grid)} trials ({len(grid) - len(self.grid)} already done)")

        self.bo: RoundsSearcher | None = None
        self.bo_left = 0
        if spec.bo is not None:
            self.bo = RoundsSearcher(spec)
            if spec.bo.warm_start:  # a model's BO waits for its grid trials, then starts from them
                self.bo.blocked = {m for m in self.models if self.grid_left[m]}
                ready = [r for r in self.results if r["phase"] == "grid" and r["model"] not in self.bo.blocked]
                log(f"bo phase: warm start from {self.bo.warm_start(ready)} grid trials")
            bo_final = [r for r in final if r["phase"] == "bo"]
            self.bo_left = self.bo.resume(bo_final)
            log(f"bo phase: {len(self.models)} models x {spec.bo.rounds} rounds x {spec.bo.trials_per_round} "
                f"trials ({spec.bo.sampler} sampler): {self.bo_left} to run, {len(bo_final)} already done")
        self.seeds: dict[str, deque] = {}  # model -> its seed trials, once its best setting is known
        self.seeds_done = sum(1 for r in final if r["phase"] == "seeds")

    def _item(self, phase: str, model: str, cfg: TrialConfig) -> dict[str, Any]:
        return {"trial": {**cfg.to_dict(), "threads": self.threads},
                "meta": {"phase": phase, "model": model, "trial_key": cfg.key(self.spec.name, phase)}}

    def upper_bound(self) -> int:
        """At most this many trials are still to run (Tune's ``num_samples``); a model with no
        finite FID has no seeds phase, so fewer may run."""
        seeds = len(self.models) * self.spec.seeds.count - self.seeds_done if self.spec.seeds else 0
        return len(self.grid) + self.bo_left + max(0, seeds)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space comes from the study spec, not from Tune's param_space

    # ---- gating, per model ---------------------------------------------------------------
    def _bo_done(self, model: str) -> bool:
        return self.bo is None or self.bo.round[model] >= self.bo.bo.rounds

    def _open_seeds(self, model: str) -> None:
        """Once the phases ``seeds.from`` names are finished for the model, its best setting is
        known: queue its seed trials."""
        seeds = self.spec.seeds
        if seeds is None or model in self.seeds:
            return
        if ("grid" in seeds.phases and self.grid_left[model]) or ("bo" in seeds.phases and not self._bo_done(model)):
            return
        items = [self._item("seeds", m, cfg) for m, cfg in seed_trials(self.spec, [
            r for r in self.results if r["model"] == model])]
        todo = deque(item for item in items if item["meta"]["trial_key"] not in self.done_keys)
        self.seeds[model] = todo
        self.log(f"seeds phase: {model}: {len(todo)} trials ({len(items) - len(todo)} already done)")

    # ---- Tune's Searcher interface -------------------------------------------------------
    def suggest(self, trial_id: str) -> dict[str, Any] | None | str:
        if self.grid:
            return self._issue(trial_id, self.grid.popleft())
        if self.bo is not None:
            bo = self.bo.suggest(trial_id)
            if isinstance(bo, dict):
                self.live[trial_id] = ("bo", bo["cfg"]["meta"]["model"], bo["cfg"])
                self.suggested["bo"] += 1
                return bo
        for model in self.models:
            self._open_seeds(model)
            if self.seeds.get(model):
                return self._issue(trial_id, self.seeds[model].popleft())
        if self._all_suggested():
            return Searcher.FINISHED
        return None  # waiting for trials that decide what comes next

    def _issue(self, trial_id: str, item: dict[str, Any]) -> dict[str, Any]:
        phase, model = item["meta"]["phase"], item["meta"]["model"]
        self.live[trial_id] = (phase, model, item)
        self.suggested[phase] += 1
        return {"cfg": item}

    def _all_suggested(self) -> bool:
        if self.grid or any(not self._bo_done(m) for m in self.models):
            return False
        if self.spec.seeds is None:
            return True
        return all(m in self.seeds and not self.seeds[m] for m in self.models)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.live:
            return
        phase, model, item = self.live.pop(trial_id)
        if phase == "seeds":
            return
        result = result or {}
        self.results.append({**item["trial"], "phase": phase, "model": model, "is_final": True,
                             "fid": result.get(METRIC), "status": "failed" if error else result.get("status")})
        if phase == "bo":
            self.bo.on_trial_complete(trial_id, result, error)
            return
        self.grid_left[model] -= 1
        if self.bo is not None and model in self.bo.blocked and not self.grid_left[model]:
            added = self.bo.warm_start([r for r in self.results if r["phase"] == "grid" and r["model"] == model])
            self.bo.blocked.discard(model)
            self.log(f"bo phase: {model}: warm start from {added} grid trials")

    # ---- Tune saves the searcher with its experiment state; the store stays the source of truth
    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({k: v for k, v in self.__dict__.items() if k != "log"}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
