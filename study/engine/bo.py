"""Sequential Bayesian optimisation in rounds, for every model of a study at once; no Ray.

Kurach et al. 2019 (Table 2): per model, 120 settings in 12 rounds of 10, a round suggested
only after the previous one has finished. One Optuna study and one round barrier per model,
so every model's round is in flight together and a large cluster stays full.

A round's settings are asked together when the round opens, each with a sampler seeded from
(bo seed, model, round, slot): what a round suggests depends only on the rounds before it,
never on how many slots the cluster has or on when trials finished, and a resumed study asks
exactly what an uninterrupted one would. Each model's Optuna study lives in the study
directory (Optuna's journal storage, ``<study_dir>/optuna/journal.log``) when that is a local
or shared filesystem: after a crash, finished trials are known with their numbers and rounds,
trials that were in flight are handed out again with the same setting and key, and
``optuna-dashboard <study_dir>/optuna/journal.log`` shows the studies while they run. Without
a journal (object storage) the studies are rebuilt from the store's rows.

A trial that errors, diverges or reports a non-finite FID reaches Optuna as FAIL (never left
RUNNING, which would bias later rounds) and still counts towards its round.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from collections import deque
from pathlib import Path
from typing import Any, Iterable

import optuna

from study.engine.request import FINISHED, TrialRequest
from study.engine.spec import Model, StudySpec

METRIC = "fid"
STOPPED = "stopped"  # a trial's status when early stopping ended it (its rows' and Optuna's PRUNED)
ROUND, SLOT, KEY, SOURCE = "bo_round", "slot", "trial_key", "source"  # user attributes of Optuna trials


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"bo.sampler: unknown sampler {name!r}; allowed: gp, tpe, random")


def slot_seed(seed: int, model: str, rnd: int, slot: int) -> int:
    """The sampler seed of one suggestion: a hash, so that slots, rounds and models never share one."""
    return int(hashlib.sha256(f"{seed}/{model}/{rnd}/{slot}".encode()).hexdigest()[:8], 16)


def name_metric(study: optuna.Study) -> None:
    """Call the objective ``fid`` (optuna-dashboard showed "Objective 0"); once per study, resumed ones too."""
    if study.metric_names != [METRIC]:
        with warnings.catch_warnings():  # set_metric_names is marked experimental since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([METRIC])


def journal_storage(study_dir: str) -> optuna.storages.BaseStorage | None:
    """Optuna's journal in ``<study_dir>/optuna/`` for a local (or mounted) study directory;
    None for object storage (s3://, gs://), where the studies are rebuilt from the store."""
    if "://" in study_dir and not study_dir.startswith("file://"):
        return None
    root = Path(study_dir.removeprefix("file://")) / "optuna"
    root.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(root / "journal.log")))


class RoundsScheduler:
    """Hands out BO trials round by round, per model; ``FINISHED`` when all rounds are done."""

    def __init__(self, spec: StudySpec, storage: optuna.storages.BaseStorage | None = None, threads: int = 1,
                 stored: Iterable[dict[str, Any]] = ()) -> None:
        assert spec.bo is not None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec, self.bo, self.threads = spec, spec.bo, threads
        self.models: list[Model] = spec.models()
        self.studies = {m.name: optuna.create_study(direction="minimize", study_name=m.name, storage=storage,
                                                    load_if_exists=True,
                                                    sampler=make_sampler(self.bo.sampler, self.bo.seed))
                        for m in self.models}
        for study in self.studies.values():
            name_metric(study)
        self.round = {m.name: 0 for m in self.models}
        self.queue: dict[str, deque[TrialRequest]] = {m.name: deque() for m in self.models}
        self.open = {m.name: 0 for m in self.models}  # trials of the current round not yet told
        self.live: dict[str, tuple[str, int]] = {}  # trial id -> (model, Optuna trial number)
        self.blocked: set[str] = set()  # models whose BO may not start yet (waiting for a warm start)
        self.reruns: dict[str, deque] = {m.name: deque() for m in self.models}  # told, but their rows are lost
        self.rerunning = {m.name: 0 for m in self.models}  # reruns handed out, not yet finished
        self._cursor = 0
        final = {r["trial_key"]: r for r in stored if r.get("phase") == "bo" and r.get("is_final")}
        for model in self.models:
            self._sync(model, final)

    # ---- state from the Optuna study (journal) or the store's rows -------------------------------
    def _bo_trials(self, model: str) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.studies[model].get_trials(deepcopy=False) if ROUND in t.user_attrs]

    def _sync(self, model: Model, final: dict[str, dict[str, Any]]) -> None:
        """Continue where the study stands: a journal's trials (those still RUNNING were in flight
        when the driver stopped: told from the store if their final row is there, else queued
        again with their setting and key), or, without a journal, the store's final rows."""
        name = model.name
        trials = self._bo_trials(name)
        if not trials:  # a new study, or no journal: rebuild from the stored rows
            for row in sorted((r for r in final.values() if r["model"] == name and r.get("bo_round") is not None),
                              key=lambda r: (r["bo_round"], r.get("timestamp") or 0)):
                self._add(model, row, {ROUND: row["bo_round"], SLOT: self._slot_of(model, row), KEY: row["trial_key"]})
            trials = self._bo_trials(name)
        for t in trials:
            if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs[KEY] in final:
                self._tell(name, t.number, final[t.user_attrs[KEY]], error=False)
        self._queue_reruns(model, final)
        trials = self._bo_trials(name)
        if not trials:
            return
        rnd = max(t.user_attrs[ROUND] for t in trials)
        current = [t for t in trials if t.user_attrs[ROUND] == rnd]
        if len(current) >= self.bo.trials_per_round and all(t.state.is_finished() for t in current):
            self.round[name] = rnd + 1
            return
        self.round[name] = rnd
        for t in sorted(current, key=lambda t: t.user_attrs[SLOT]):
            if t.state == optuna.trial.TrialState.RUNNING:
                self.queue[name].append((self._request(model, t.params, rnd, t.user_attrs[SLOT]), t.number))
        taken = {t.user_attrs[SLOT] for t in current}
        free = [s for s in range(self.bo.trials_per_round) if s not in taken]
        self.open[name] = len(self.queue[name]) + self._ask_round(
            model, rnd, free[: max(0, self.bo.trials_per_round - len(current))])

    def _queue_reruns(self, model: Model, final: dict[str, dict[str, Any]]) -> None:
        """Trials Optuna was told of but whose final row is gone (a part file lost with its copy):
        run again with their recorded setting, round, slot and key; Optuna is not told twice."""
        for t in self._bo_trials(model.name):
            if t.state.is_finished() and t.user_attrs[KEY] not in final:
                req = self._request(model, t.params, t.user_attrs[ROUND], t.user_attrs[SLOT])
                self.reruns[model.name].append((req, None))

    def _slot_of(self, model: Model, row: dict[str, Any]) -> int:
        """A stored BO trial's slot in its round, recovered from its key (-1 when the key predates slots)."""
        cfg = self.spec.config(model, **{k: row[k] for k in self._space(model)}, n_dis=self.bo.n_dis)
        for slot in range(self.bo.trials_per_round):
            if cfg.key(self.spec.name, "bo", f"{row['bo_round']}.{slot}") == row["trial_key"]:
                return slot
        return -1

    def _space(self, model: Model) -> dict[str, Any]:
        return self.spec.bo_space(model)

    def _distributions(self, model: Model) -> dict[str, optuna.distributions.BaseDistribution]:
        return {k: optuna.distributions.FloatDistribution(r.low, r.high, log=r.log)
                for k, r in self._space(model).items()}

    def _add(self, model: Model, row: dict[str, Any], attrs: dict[str, Any]) -> None:
        fid = row.get("fid")
        ok = row.get("status") == "ok" and isinstance(fid, float) and math.isfinite(fid)
        state = (optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.PRUNED
                 if row.get("status") == STOPPED else optuna.trial.TrialState.FAIL)
        self.studies[model.name].add_trial(optuna.trial.create_trial(
            params={k: row[k] for k in self._space(model)}, distributions=self._distributions(model),
            value=fid if ok else None, user_attrs=attrs, state=state))

    def warm_start(self, results: list[dict[str, Any]]) -> int:
        """Tell each model's study the finished grid trials whose settings lie in its BO space
        (Optuna ``add_trial``, no re-run; once, also across resumes); return how many were
        added. A grid setting outside the space (e.g. n_dis other than the BO phase's) is left out."""
        by_name = {m.name: m for m in self.models}
        added = 0
        for row in results:
            model = by_name.get(row["model"])
            if model is None or row.get("n_dis") != self.bo.n_dis:
                continue
            if not all(r.low <= row[k] <= r.high for k, r in self._space(model).items()):
                continue
            known = {t.user_attrs.get(KEY) for t in self.studies[model.name].get_trials(deepcopy=False)
                     if t.user_attrs.get(SOURCE) == "grid"}
            if row.get("trial_key") is not None and row["trial_key"] in known:
                continue
            self._add(model, row, {SOURCE: "grid", KEY: row.get("trial_key")})
            added += 1
        return added

    # ---- handing out trials ---------------------------------------------------------------------
    def _request(self, model: Model, params: dict[str, Any], rnd: int, slot: int) -> TrialRequest:
        cfg = self.spec.config(model, **params, n_dis=self.bo.n_dis)
        return TrialRequest.make(self.spec.name, "bo", model.name, cfg, self.threads, bo_round=rnd,
                                 key_context=(f"{rnd}.{slot}",))

    def _ask_round(self, model: Model, rnd: int, slots: list[int]) -> int:
        """Ask Optuna for these slots of round ``rnd`` now, each with its own seeded sampler."""
        study = self.studies[model.name]
        for slot in slots:
            study.sampler = make_sampler(self.bo.sampler, slot_seed(self.bo.seed, model.name, rnd, slot))
            trial = study.ask(self._distributions(model))
            req = self._request(model, trial.params, rnd, slot)
            for k, v in {ROUND: rnd, SLOT: slot, KEY: req.trial_key}.items():
                trial.set_user_attr(k, v)
            self.queue[model.name].append((req, trial.number))
        return len(slots)

    def _available(self, model: Model) -> bool:
        name = model.name
        if name in self.blocked or self.round[name] >= self.bo.rounds:
            return False
        if not self.queue[name] and not self.open[name]:  # the round before is told: open the next
            self.open[name] = self._ask_round(model, self.round[name], list(range(self.bo.trials_per_round)))
        return bool(self.queue[name])

    def suggest(self, trial_id: str) -> TrialRequest | None | str:
        for name, reruns in self.reruns.items():  # lost rows first: nothing waits on them in Optuna
            if reruns:
                self.live[trial_id] = (name, None)
                self.rerunning[name] += 1
                return reruns.popleft()[0]
        n = len(self.models)
        for offset in range(n):
            model = self.models[(self._cursor + offset) % n]
            if self._available(model):
                self._cursor = (self._cursor + offset + 1) % n
                req, number = self.queue[model.name].popleft()
                self.live[trial_id] = (model.name, number)
                return req
        if self.done():
            return FINISHED
        return None  # every model waits for its round to finish

    def take_more(self, model: str, alike, ids: list[str]) -> list[TrialRequest]:
        """More of ``model``'s queued trials of this round that are ``alike`` (one per id in
        ``ids``, at most): handed out now under those ids, for a fused group. Reruns first."""
        taken: list[TrialRequest] = []
        for queue in (self.reruns[model], self.queue[model]):
            kept: deque = deque()
            while queue:
                req, number = queue.popleft()
                if len(taken) < len(ids) and alike(req):
                    self.live[ids[len(taken)]] = (model, number)
                    self.rerunning[model] += number is None
                    taken.append(req)
                else:
                    kept.append((req, number))
            queue.extend(kept)
        return taken

    def done(self) -> bool:
        return all(self.model_done(m.name) for m in self.models)

    def model_done(self, model: str) -> bool:
        """Every round told, and every rerun of a lost trial finished."""
        return self.round[model] >= self.bo.rounds and not self.reruns[model] and not self.rerunning[model]

    def remaining(self) -> int:
        """Trials still to hand out, this round's queued ones included."""
        left = 0
        for m in self.models:
            rnd = self.round[m.name]
            if rnd < self.bo.rounds:
                in_round = len(self.queue[m.name]) if (self.queue[m.name] or self.open[m.name]) else \
                    self.bo.trials_per_round
                left += in_round + (self.bo.rounds - rnd - 1) * self.bo.trials_per_round
            left += len(self.reruns[m.name])
        return left

    def _tell(self, model: str, number: int, result: dict[str, Any] | None, error: bool) -> None:
        value = (result or {}).get(METRIC)
        ok = (not error and result is not None and result.get("status") == "ok"
              and isinstance(value, (int, float)) and math.isfinite(value))
        study = self.studies[model]
        if ok:
            study.tell(number, float(value))
        elif not error and result is not None and result.get("status") == STOPPED:  # early stopping
            study.tell(number, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(number, state=optuna.trial.TrialState.FAIL)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.live:
            return
        model, number = self.live.pop(trial_id)
        if number is None:  # a rerun of a lost row: Optuna already knows it
            self.rerunning[model] -= 1
            return
        self._tell(model, number, result, error)
        self.open[model] -= 1
        if self.open[model] <= 0 and not self.queue[model]:
            self.round[model] += 1
            self.open[model] = 0

    def state(self) -> dict[str, Any]:
        """A plain summary (JSON-safe) of where each model stands."""
        return {"round": dict(self.round), "open": dict(self.open), "blocked": sorted(self.blocked),
                "reruns": {m: len(q) for m, q in self.reruns.items() if q},
                "queued": {m: len(q) for m, q in self.queue.items()}}
