"""``gan-study status STUDY_DIR``: per phase and model, how many trials are done, running,
pending, diverged, failed and stopped (early stopping), and the best FID so far; read from the study directory only."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from study.engine.spec import StudySpec, read_spec_file
from study.engine.store import ResultsStore

COLUMNS = ["expected", "ok", "diverged", "failed", "stopped", "running", "pending", "best_fid"]
STATUS_COLUMNS = ["phase", "model", "bo_round", "trial_key", "is_final", "status", "fid", "step"]


def expected_counts(spec: StudySpec, rows: pd.DataFrame | None = None) -> dict[tuple[str, str], int]:
    """Trials per (phase, model). A model whose grid/BO trials (those ``seeds.from`` names) are
    all finished without one finite FID has no best setting, so no seed trials (0, not pending)."""
    counts: dict[tuple[str, str], int] = {}
    for model, _, _ in spec.grid_trials():
        counts[("grid", model.name)] = counts.get(("grid", model.name), 0) + 1
    if spec.bo is not None:
        for model in spec.models():
            counts[("bo", model.name)] = spec.bo.rounds * spec.bo.trials_per_round
    if spec.seeds is not None:
        final = rows[rows["is_final"]] if rows is not None and len(rows) else None
        for model in spec.models():
            counts[("seeds", model.name)] = spec.seeds.count
            if final is None:
                continue
            mine = final[(final["model"] == model.name) & final["phase"].isin(spec.seeds.phases)]
            complete = all(len(mine[mine["phase"] == p]) >= counts.get((p, model.name), 0) for p in spec.seeds.phases)
            fids = mine[mine["status"] == "ok"]["fid"].astype(float)
            if complete and not any(math.isfinite(f) for f in fids):
                counts[("seeds", model.name)] = 0
    return counts


def status_table(spec: StudySpec, rows: pd.DataFrame) -> pd.DataFrame:
    last = rows.groupby("trial_key").tail(1) if len(rows) else rows
    table: list[dict[str, Any]] = []
    for (phase, model), expected in expected_counts(spec, rows).items():
        sel = last[(last["phase"] == phase) & (last["model"] == model)]
        final = sel[sel["is_final"]]
        counts = {s: int((final["status"] == s).sum()) for s in ("ok", "diverged", "failed", "stopped")}
        running = int((~sel["is_final"]).sum())
        fids = rows[(rows["phase"] == phase) & (rows["model"] == model)]["fid"].dropna()
        table.append({"phase": phase, "model": model, "expected": expected, **counts, "running": running,
                      "pending": max(0, expected - len(final) - running),
                      "best_fid": float(fids.min()) if len(fids) else float("nan")})
    return pd.DataFrame(table, columns=["phase", "model"] + COLUMNS).set_index(["phase", "model"])


def study_status(study_dir: str | Path, log=print) -> pd.DataFrame:
    study_dir = str(study_dir)
    spec, _ = read_spec_file(study_dir)
    rows = ResultsStore(study_dir, create=False).table(log=log, columns=STATUS_COLUMNS).to_pandas()
    return status_table(spec, rows)


def is_finished(spec: StudySpec, rows: pd.DataFrame) -> bool:
    """Nothing left to run: every expected trial has a final row."""
    table = status_table(spec, rows)
    return bool((table["pending"] + table["running"]).sum() == 0)


def progress_bar(done: int, total: int, width: int = 40) -> str:
    """``[#########---------] 12/36 trials finished (33%)``; an empty study is complete."""
    fraction = done / total if total else 1.0
    filled = min(width, int(fraction * width))
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} trials finished ({fraction:.0%})"


def finished_count(table: pd.DataFrame) -> tuple[int, int]:
    """(trials finished, trials expected) over a status table."""
    done = int(table[["ok", "diverged", "failed", "stopped"]].to_numpy().sum())
    return done, int(table["expected"].sum())

