"""A study's three phases behind one scheduler, gated per model, not per phase; no Ray.

Grid (Kurach et al. 2019, Table 1), Bayesian optimisation in rounds (Table 2, via
``RoundsScheduler``) and the seeds phase (each model's best setting re-run with more seeds,
Lucic et al. 2018) are handed out by one scheduler (behind one Ray Tune searcher,
study/engine/tune/searcher.py), so that a slot freed at the end of one phase takes the next
phase's work at once instead of waiting for the slowest trial of the phase. What must wait,
waits per model: with ``bo.warm_start`` a model's BO begins once its own grid trials are
finished; a model's seeds begin once its own trials of the phases ``seeds.from`` names are.
Suggestions come grid first, then BO, then seeds.

The store is the source of truth: the scheduler starts from the rows a study directory already
holds (finished trials are never suggested again, BO rounds continue from the Optuna journal
or the rows) and is told each trial's final FID and status.
"""
from __future__ import annotations

import dataclasses
import math
from collections import deque
from typing import Any

import optuna

from study.engine.bo import METRIC, STOPPED, RoundsScheduler
from study.engine.extension import current_keys
from study.engine.request import FINISHED, PHASES, TrialRequest
from study.engine.spec import StudySpec
from study.gan.config import TrialConfig
from study.gan.fused.grouping import fusion_key


def member_id(trial_id: str, k: int) -> str:
    """The scheduler's id of member ``k`` of a fused Tune trial."""
    return f"{trial_id}/{k}"


def _take(queue: deque, alike, n: int) -> list[TrialRequest]:
    """Remove and return up to ``n`` requests of ``queue`` that are ``alike``, keeping the order of the rest."""
    taken, kept = [], deque()
    while queue:
        req = queue.popleft()
        (taken if len(taken) < n and alike(req) else kept).append(req)
    queue.extend(kept)
    return taken


def best_settings(spec: StudySpec, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each model's best final row (lowest finite FID) among the phases ``seeds.from`` names."""
    assert spec.seeds is not None
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        fid = r.get("fid")
        if (r["is_final"] and r["phase"] in spec.seeds.phases and r["status"] == "ok"
                and isinstance(fid, (int, float)) and math.isfinite(fid)
                and (r["model"] not in best or fid < best[r["model"]]["fid"])):
            best[r["model"]] = r
    return best


def seed_trials(spec: StudySpec, rows: list[dict[str, Any]]) -> list[tuple[str, TrialConfig]]:
    """Each model's best setting re-run with ``seeds.count`` other seeds (Lucic et al. 2018, Sec. 6)."""
    assert spec.seeds is not None
    best = best_settings(spec, rows)
    fields = {f.name for f in dataclasses.fields(TrialConfig)}
    out = []
    for model in spec.models():
        if model.name not in best:
            continue
        cfg = TrialConfig.from_dict({k: v for k, v in best[model.name].items() if k in fields})
        cfg = dataclasses.replace(cfg, metrics=spec.config(model).metrics)  # a grown study's new metrics too
        seeds = [s for s in range(spec.seeds.count + 1) if s != cfg.seed][: spec.seeds.count]
        out += [(model.name, dataclasses.replace(cfg, seed=s)) for s in seeds]
    return out


class PhasedScheduler:
    """Hands out every trial a study still needs; ``FINISHED`` once all are handed out."""

    def __init__(self, spec: StudySpec, stored: list[dict[str, Any]], threads: int = 1, log=print,
                 storage: optuna.storages.BaseStorage | None = None) -> None:
        self.spec, self.threads, self.log = spec, threads, log
        self.models = [m.name for m in spec.models()]
        final = [r for r in stored if r["is_final"]]
        self.done_keys = {r["trial_key"] for r in final} | current_keys(spec, final)  # also after new metrics
        # final rows of this study's grid and BO trials, stored or finished now: warm start and seeds
        self.results = [r for r in final if r["phase"] in ("grid", "bo")]
        self.live: dict[str, TrialRequest] = {}  # trial id -> its request
        self.suggested = {p: 0 for p in PHASES}

        grid = [TrialRequest.make(spec.name, "grid", m.name, cfg, threads) for m, _, cfg in spec.grid_trials()]
        self.grid = deque(r for r in grid if r.trial_key not in self.done_keys)
        self.grid_left = {m: sum(1 for r in self.grid if r.model == m) for m in self.models}
        log(f"grid phase: {len(self.grid)} trials ({len(grid) - len(self.grid)} already done)")

        self.bo: RoundsScheduler | None = None
        if spec.bo is not None:
            self.bo = RoundsScheduler(spec, storage, threads, stored)
            if spec.bo.warm_start:  # a model's BO waits for its grid trials, then starts from them
                self.bo.blocked = {m for m in self.models if self.grid_left[m]}
                ready = [r for r in self.results if r["phase"] == "grid" and r["model"] not in self.bo.blocked]
                log(f"bo phase: warm start from {self.bo.warm_start(ready)} new grid trials")
            bo_done = sum(1 for r in final if r["phase"] == "bo")
            log(f"bo phase: {len(self.models)} models x {spec.bo.rounds} rounds x {spec.bo.trials_per_round} "
                f"trials ({spec.bo.sampler} sampler): {self.bo.remaining()} to run, {bo_done} already done")
        self.seeds: dict[str, deque[TrialRequest]] = {}  # model -> its seed trials, once its best setting is known
        self.seeds_done = sum(1 for r in final if r["phase"] == "seeds")

    def upper_bound(self) -> int:
        """At most this many trials are still to run (Tune's ``num_samples``); a model with no
        finite FID has no seeds phase, so fewer may run."""
        seeds = len(self.models) * self.spec.seeds.count - self.seeds_done if self.spec.seeds else 0
        return len(self.grid) + (self.bo.remaining() if self.bo else 0) + max(0, seeds)

    # ---- gating, per model ---------------------------------------------------------------
    def _bo_done(self, model: str) -> bool:
        return self.bo is None or self.bo.model_done(model)

    def _open_seeds(self, model: str) -> None:
        """Once the phases ``seeds.from`` names are finished for the model, its best setting is
        known: queue its seed trials."""
        seeds = self.spec.seeds
        if seeds is None or model in self.seeds:
            return
        if ("grid" in seeds.phases and self.grid_left[model]) or ("bo" in seeds.phases and not self._bo_done(model)):
            return
        reqs = [TrialRequest.make(self.spec.name, "seeds", m, cfg, self.threads) for m, cfg in seed_trials(
            self.spec, [r for r in self.results if r["model"] == model])]
        todo = deque(r for r in reqs if r.trial_key not in self.done_keys)
        self.seeds[model] = todo
        self.log(f"seeds phase: {model}: {len(todo)} trials ({len(reqs) - len(todo)} already done)")

    def suggest(self, trial_id: str) -> TrialRequest | None | str:
        if self.grid:
            return self._issue(trial_id, self.grid.popleft())
        if self.bo is not None:
            req = self.bo.suggest(trial_id)
            if isinstance(req, TrialRequest):
                return self._issue(trial_id, req)
        for model in self.models:
            self._open_seeds(model)
            if self.seeds.get(model):
                return self._issue(trial_id, self.seeds[model].popleft())
        if self._all_suggested():
            return FINISHED
        return None  # waiting for trials that decide what comes next

    def suggest_group(self, trial_id: str, size: int) -> list[tuple[str, TrialRequest]] | None | str:
        """Up to ``size`` trials that may train as one fused group (study/gan/fused/grouping.py):
        the next trial, then those of the same phase and model queued after it that share its
        fusion key (a model's BO round, its seeds, its grid settings), each under its own member
        id ``<trial_id>/<k>``, told back one by one with ``on_trial_complete``."""
        first_id = member_id(trial_id, 0)
        got = self.suggest(first_id)
        if not isinstance(got, TrialRequest):
            return got
        out = [(first_id, got)]
        if size <= 1:
            return out
        key = fusion_key(got.config)

        def alike(req: TrialRequest) -> bool:
            return req.model == got.model and fusion_key(req.config) == key

        if got.phase == "grid":
            more = _take(self.grid, alike, size - 1)
        elif got.phase == "seeds":
            more = _take(self.seeds[got.model], alike, size - 1)
        else:
            more = self.bo.take_more(got.model, alike, [member_id(trial_id, k) for k in range(1, size)])
        for req in more:
            out.append((member_id(trial_id, len(out)), req))
            self._issue(out[-1][0], req)
        return out

    def _issue(self, trial_id: str, req: TrialRequest) -> TrialRequest:
        self.live[trial_id] = req
        self.suggested[req.phase] += 1
        return req

    def done(self) -> bool:
        """Every trial handed out and none still running."""
        return self._all_suggested() and not self.live

    def _all_suggested(self) -> bool:
        if self.grid or any(not self._bo_done(m) for m in self.models):
            return False
        if self.spec.seeds is None:
            return True
        return all(m in self.seeds and not self.seeds[m] for m in self.models)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        req = self.live.pop(trial_id, None)
        if req is None or req.phase == "seeds":
            return
        result = result or {}
        if not error and result and not result.get("is_final", True):
            result = {**result, "status": STOPPED}  # ended before its final evaluation: stopped early
        self.results.append({**req.columns(self.spec.name), "is_final": True, "fid": result.get(METRIC),
                             "status": "failed" if error else result.get("status")})
        if req.phase == "bo":
            self.bo.on_trial_complete(trial_id, result, error)
            return
        self.grid_left[req.model] -= 1
        if self.bo is not None and req.model in self.bo.blocked and not self.grid_left[req.model]:
            added = self.bo.warm_start([r for r in self.results if r["phase"] == "grid" and r["model"] == req.model])
            self.bo.blocked.discard(req.model)
            self.log(f"bo phase: {req.model}: warm start from {added} grid trials")

    def state(self) -> dict[str, Any]:
        """A plain, JSON-safe summary of the scheduler (what Tune's experiment checkpoint keeps of
        it; resuming reads the store and the Optuna journal, never this)."""
        return {"suggested": dict(self.suggested), "grid_left": dict(self.grid_left),
                "seeds_opened": sorted(self.seeds), "bo": self.bo.state() if self.bo else None}
