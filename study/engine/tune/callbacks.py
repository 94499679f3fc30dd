"""The driver-side Tune callback that turns trial reports into result rows in the store.

Rows are labelled from the trial's ``TrialRequest`` and the driver's provenance, with the
columns the schema (study/engine/schema.py) says a trial reports. A trial's file is rewritten
when it ends and otherwise at most every ``flush_every_s`` seconds, so that thousands of short
evaluations do not rewrite thousands of files (a crash of the driver loses at most that much
of an unfinished trial's progress rows; the trial itself runs again on resume). Every
``compact_every`` finished trials, their rows move into one part file (ResultsStore.compact),
so the results folder stays a few dozen files however long the study runs.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from study.engine.keep import GeneratorKeeper
from study.engine.request import TrialRequest, member_rows, requests_of
from study.engine.schema import REPORTED_COLUMNS
from study.engine.store import ResultsStore
from study.engine.tune.searcher import request_of


class StoreCallback(Callback):
    """Writes each trial's rows to the store (atomically), and logs a line per finished trial."""

    def __init__(self, store: ResultsStore, study: str, provenance: dict[str, Any],
                 partial: dict[str, list[dict[str, Any]]] | None = None, log=print, total: int = 0,
                 flush_every_s: float = 5.0, compact_every: int = 256, keeper: GeneratorKeeper | None = None,
                 stopper: str = "early-stopping") -> None:
        self.store, self.study, self.prov, self.log, self.total = store, study, provenance, log, total
        self.keeper = keeper  # keeps each model's top-k generators as trials finish
        self.stopper = stopper  # the early-stopping scheduler's name, for a stopped trial's row
        self.flush_every_s, self.compact_every = flush_every_s, compact_every
        self.finished: list[dict[str, Any]] = []  # rows of finished trials not yet compacted
        self.finished_trials = 0  # ... and how many trials they are
        self.partial = partial or {}  # key -> non-final rows an earlier driver stored (no re-read per trial)
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.base: dict[str, dict[str, Any]] = {}  # key -> the columns its request and the driver fix
        self.written: dict[str, float] = {}  # key -> when its file was last written
        self.dirty: set[str] = set()
        self.done = 0
        self.failed = 0

    def _rows(self, key: str) -> list[dict[str, Any]]:
        if key not in self.rows:  # a resumed study: keep what earlier runs wrote
            self.rows[key] = list(self.partial.pop(key, []))
        return self.rows[key]

    def _flush(self, key: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.written.get(key, -1e18) >= self.flush_every_s:
            self.store.write_trial(key, self.rows[key])
            self.written[key] = now
            self.dirty.discard(key)
        else:
            self.dirty.add(key)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        # A fused group's report carries its members' rows: each goes to its own trial's file.
        for req, reported in member_rows(request_of(trial.config), result):
            self._result(req, reported)

    def _result(self, req: TrialRequest, result: dict[str, Any]) -> None:
        if req.trial_key not in self.base:
            self.base[req.trial_key] = {**req.columns(self.study), **self.prov}
        row = {**self.base[req.trial_key], **{k: result.get(k) for k in REPORTED_COLUMNS},
               "timestamp": dt.datetime.now(dt.timezone.utc)}
        # A retried trial restarts its steps: its new rows replace the old ones from that step on.
        self.rows[req.trial_key] = [r for r in self._rows(req.trial_key) if r["step"] < row["step"]] + [row]
        self._flush(req.trial_key, force=bool(row.get("is_final")))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        for req in requests_of(request_of(trial.config)):
            self._complete(req)
        _drop_checkpoint(trial, self.log)

    def _complete(self, req: TrialRequest) -> None:
        self.done += 1
        rows = self.rows.get(req.trial_key)
        if rows and not rows[-1].get("is_final"):
            # It ended before its final evaluation without an error: the early-stopping
            # scheduler stopped it. Its last evaluation becomes its final row, status "stopped".
            rows[-1] = {**rows[-1], "is_final": True, "status": "stopped",
                        "error": f"stopped early at step {rows[-1]['step']} by the {self.stopper} scheduler"}
            self.dirty.add(req.trial_key)
        if req.trial_key in self.dirty:
            self._flush(req.trial_key, force=True)
        last = self._finish(req.trial_key)[-1]
        if self.keeper is not None and last:
            self.keeper.offer(last)
        cfg = req.config
        self.log(f"  [{req.phase} {self.done}/{self.total}] {req.model} lr={cfg.lr:.3g} b1={cfg.beta1:.3g} "
                 f"b2={cfg.beta2:.3g} n_dis={cfg.n_dis}: {last.get('status', '?')} "
                 f"fid={last.get('fid', float('nan')):.2f} ({last.get('wall_time_s') or 0:.1f}s)"
                 + (f": {last['error']}" if last.get("status") == "failed" and last.get("error") else ""))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        err = _error_text(trial)
        reqs = requests_of(request_of(trial.config))
        for req in reqs:
            rows = self.rows.get(req.trial_key)
            if len(reqs) > 1 and rows and rows[-1].get("is_final"):  # a fused member done before the error
                self._complete(req)
            else:
                self._fail(req, err)

    def _fail(self, req: TrialRequest, err: str) -> None:
        self.done += 1
        self.failed += 1
        prior = [r for r in self._rows(req.trial_key) if not r["is_final"]]
        row = {**req.columns(self.study), **self.prov, "step": prior[-1]["step"] if prior else 0, "status": "failed",
               "error": err, "is_final": True, "wall_time_s": prior[-1].get("wall_time_s") if prior else None,
               "timestamp": dt.datetime.now(dt.timezone.utc)}
        self.rows[req.trial_key] = prior + [row]
        self._flush(req.trial_key, force=True)
        self._finish(req.trial_key)
        if self.keeper is not None:
            self.keeper.offer(row)
        self.log(f"  [{req.phase} {self.done}/{self.total}] {req.model}: failed: "
                 f"{err.strip().splitlines()[-1] if err.strip() else 'unknown error'}")

    def _finish(self, key: str) -> list[dict[str, Any]]:
        """A finished trial's rows leave memory for the compaction buffer."""
        rows = self.rows.pop(key, None) or [{}]
        self.base.pop(key, None)
        self.written.pop(key, None)
        if rows[0]:
            self.finished.extend(rows)
            self.finished_trials += 1
            if self.finished_trials >= self.compact_every:
                self._compact()
        return rows

    def _compact(self) -> None:
        self.store.compact(self.finished)
        self.finished, self.finished_trials = [], 0

    def on_experiment_end(self, trials, **info) -> None:
        for key in list(self.dirty):
            self._flush(key, force=True)
        if self.finished:
            self._compact()


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


def _error_text(trial) -> str:
    try:
        path = trial.error_file
        if path and os.path.exists(path):
            return Path(path).read_text()[-4000:]
    except Exception:  # noqa: BLE001 - the error text is best effort; the status is what counts
        pass
    return "trial failed"
