"""The Ray Tune function trainable: a TrialRequest in, ``tune.report`` at each evaluation.

The trial (study/gan/trial.py) knows Tune only through the ``report`` callback made here.
A retry after a crash continues from the trial's last checkpoint: loaded with
``weights_only=True`` (no code runs from it) and only if its sha256 matches the one written
beside it when it was saved (a truncated or altered file is refused, not half-loaded).
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

from study.engine.tune.searcher import ARTIFACTS, request_of
from study.gan.hashing import sha256_of

CHECKPOINT_FILE = "trial_state.pt"
DIGEST_FILE = "trial_state.sha256"


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

    def report(row: dict[str, Any], trial_state: dict[str, Any] | None = None) -> None:
        row = {**row, "node_id": node_id}
        if trial_state is None:
            tune.report(row)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save_state(trial_state, tmp)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))

    trial.run_trial(cfg, report=report, state=state, checkpoints=True, artifacts=artifacts)


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
