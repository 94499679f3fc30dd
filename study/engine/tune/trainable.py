"""The Ray Tune function trainable: a TrialRequest in, ``tune.report`` at each evaluation.

The trial (study/gan/trial.py) knows Tune only through the ``report`` callback made here.
A retry after a crash continues from the trial's last checkpoint: loaded with
``weights_only=True`` (no code runs from it) and only if its sha256 matches the one written
beside it when it was saved (a truncated or altered file is refused, not half-loaded).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any

from study.engine.request import MEMBERS, NEW, FusedRequest
from study.engine.tune.searcher import ARTIFACTS, request_of
from study.gan.hashing import sha256_of

CHECKPOINT_FILE = "trial_state.pt"
DIGEST_FILE = "trial_state.sha256"
FINISHED_FILE = "finished.json"  # a fused group's checkpoint: the final rows of members already done


def save_state(state: dict[str, Any], folder: str) -> None:
    import torch

    path = os.path.join(folder, CHECKPOINT_FILE)
    torch.save(state, path)
    with open(os.path.join(folder, DIGEST_FILE), "w") as f:
        f.write(sha256_of(path))


def load_state(folder: str) -> dict[str, Any]:
    import torch

    path = os.path.join(folder, CHECKPOINT_FILE)
    with open(os.path.join(folder, DIGEST_FILE)) as f:
        expected = f.read().strip()
    if sha256_of(path) != expected:
        raise ValueError(f"checkpoint: {path} does not match its recorded sha256 {expected[:12]}...; refusing it")
    return torch.load(path, map_location="cpu", weights_only=True)


def tune_trainable(config: dict[str, Any]) -> None:
    import ray
    from ray import tune

    from study.gan import trial
    from study.gan.artifacts import ArtifactDir

    req = request_of(config)
    if isinstance(req, FusedRequest):
        return fused_trainable(config)
    cfg = req.config
    # Sample grids and the best generator go straight to the study directory (which every node reaches).
    artifacts = ArtifactDir(config[ARTIFACTS], req.trial_key) if config.get(ARTIFACTS) else None
    _cap_gpu_memory(tune.get_context())
    node_id = ray.get_runtime_context().get_node_id()
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a retry after a crash: continue from the last evaluation
        with checkpoint.as_directory() as path:
            state = load_state(path)

    last = {"step": 0}

    def report(row: dict[str, Any], trial_state: dict[str, Any] | None = None) -> None:
        row = {**row, "node_id": node_id}
        last["step"] = row.get("step") or 0
        if trial_state is None:
            tune.report(row)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save_state(trial_state, tmp)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))

    try:
        trial.run_trial(cfg, report=report, state=state, checkpoints=True, artifacts=artifacts)
    except Exception as e:  # noqa: BLE001 - only running out of memory is turned into a row
        report(out_of_memory_row(e, last["step"] + 1))


def out_of_memory_row(error: Exception, step: int) -> dict[str, Any]:
    """An allocation that failed ends the trial as ``failed`` with one line (a retry would fail
    alike, and Tune would print a traceback into the driver's output); other errors propagate."""
    from study.gan.memory import out_of_memory

    line = out_of_memory(error)
    if line is None:
        raise error
    nan = float("nan")
    return {"step": step, "is_final": True, "status": "failed", "error": line, "fid": nan, "best_fid": nan}


def fused_trainable(config: dict[str, Any]) -> None:
    """A fused group (study/gan/training/loop.py) as one Tune trial: each report carries every
    member's last row under ``members`` (those it adds marked ``new``); a checkpoint holds each
    live member's state in its own folder (a solo trial's format) and the final rows of those
    done, so a retry continues the others from the last evaluation."""
    import ray
    from ray import tune

    from study.gan.artifacts import ArtifactDir
    from study.gan.training.loop import run_group

    group: FusedRequest = request_of(config)
    _cap_gpu_memory(tune.get_context())
    node_id = ray.get_runtime_context().get_node_id()
    latest: dict[str, dict[str, Any]] = {}  # trial key -> its last row
    states = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as path:
            with open(os.path.join(path, FINISHED_FILE)) as f:
                latest = json.load(f)
            live = [r for r in group.members if r.trial_key not in latest]
            states = [load_state(os.path.join(path, r.trial_key)) for r in live]
    else:
        live = list(group.members)
    artifacts = [ArtifactDir(config[ARTIFACTS], r.trial_key) if config.get(ARTIFACTS) else None for r in live]

    def report(rows: list, member_states: list) -> None:
        new = set()
        for r, row in zip(live, rows):
            if row is not None:
                latest[r.trial_key] = {**row, "node_id": node_id, "trial_key": r.trial_key}
                new.add(r.trial_key)
        members = [{**latest[r.trial_key], NEW: r.trial_key in new} for r in group.members if r.trial_key in latest]
        fids = [m["fid"] for m in members if isinstance(m.get("fid"), float) and math.isfinite(m["fid"])]
        summary = {MEMBERS: members, "fid": min(fids) if fids else float("nan"),
                   "step": max(m["step"] for m in members), "is_final": len(members) == len(group.members)
                   and all(m["is_final"] for m in members)}
        saved = {r.trial_key: s for r, s in zip(live, member_states) if s is not None}
        if not saved:
            tune.report(summary)
            return
        with tempfile.TemporaryDirectory() as tmp:
            for key, state in saved.items():
                os.makedirs(os.path.join(tmp, key))
                save_state(state, os.path.join(tmp, key))
            with open(os.path.join(tmp, FINISHED_FILE), "w") as f:
                json.dump({k: row for k, row in latest.items() if row["is_final"]}, f)
            tune.report(summary, checkpoint=tune.Checkpoint.from_directory(tmp))

    if not live:
        return
    try:
        run_group([r.config for r in live], report, states=states, checkpoints=True, artifacts=artifacts)
    except Exception as e:  # noqa: BLE001 - out of memory: every member not yet finished fails with one line
        done = {k for k, row in latest.items() if row["is_final"]}
        report([None if r.trial_key in done else out_of_memory_row(e, latest.get(r.trial_key, {}).get("step", 0) + 1)
                for r in live], [None] * len(live))


def _cap_gpu_memory(context) -> None:
    """A trial given a fraction of a GPU keeps to that fraction of its memory (Tune's GPU
    fractions are logical only)."""
    import torch

    try:
        gpus = context.get_trial_resources().required_resources.get("GPU", 0)
    except Exception:  # noqa: BLE001 - outside a Tune trial there is nothing to cap
        return
    if 0 < gpus < 1 and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(gpus)
