"""``gan-study status STUDY_DIR``: per phase and model, how many trials are done, running,
pending, diverged and failed, and the best FID so far; read from the study directory only."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from study.spec import StudySpec, parse_spec
from study.store import ResultsStore

COLUMNS = ["expected", "ok", "diverged", "failed", "running", "pending", "best_fid"]


def expected_counts(spec: StudySpec) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for model, _, _ in spec.grid_trials():
        counts[("grid", model.name)] = counts.get(("grid", model.name), 0) + 1
    if spec.bo is not None:
        for model in spec.models():
            counts[("bo", model.name)] = spec.bo.rounds * spec.bo.trials_per_round
    if spec.seeds is not None:  # each model's best setting, re-run with seeds.count seeds
        for model in spec.models():
            counts[("seeds", model.name)] = spec.seeds.count
    return counts


def study_status(study_dir: str | Path) -> pd.DataFrame:
    study_dir = Path(study_dir)
    spec_file = study_dir / "study.yaml"
    if not spec_file.is_file():
        raise FileNotFoundError(f"study_dir: no study.yaml in {study_dir}; is it a study directory?")
    spec = parse_spec(yaml.safe_load(spec_file.read_text()))
    rows = ResultsStore(str(study_dir)).table().select(
        ["phase", "model", "trial_key", "is_final", "status", "fid"]).to_pandas()
    last = rows.groupby("trial_key").tail(1) if len(rows) else rows
    table = []
    for (phase, model), expected in expected_counts(spec).items():
        sel = last[(last["phase"] == phase) & (last["model"] == model)]
        final = sel[sel["is_final"]]
        counts = {s: int((final["status"] == s).sum()) for s in ("ok", "diverged", "failed")}
        running = int((~sel["is_final"]).sum())
        fids = rows[(rows["phase"] == phase) & (rows["model"] == model)]["fid"].dropna()
        table.append({"phase": phase, "model": model, "expected": expected, **counts, "running": running,
                      "pending": max(0, expected - len(final) - running),
                      "best_fid": float(fids.min()) if len(fids) else float("nan")})
    return pd.DataFrame(table, columns=["phase", "model"] + COLUMNS).set_index(["phase", "model"])
