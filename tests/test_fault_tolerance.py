"""Crashes are normal events: a trial whose worker process is killed mid-training is retried
by Ray Tune from its last checkpoint, and the study's rows stay exactly-once."""
import os
import signal
import subprocess
import threading
import time

import pandas as pd
import pytest
import yaml

from tests.helpers import result_files

from study.driver import run_study
from study.spec import parse_spec

pytestmark = pytest.mark.ray

STUDY = {
    "name": "crash",
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 6000, "eval_every": 600,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0]},
    "max_failures": 2,
}


def _trial_worker_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "ImplicitFunc"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_killed_trial_is_retried_from_its_checkpoint(ray_local, tmp_path):
    killed = {}

    def killer():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            files = result_files(tmp_path / "results")
            if files:
                rows = pd.read_parquet(files[0])
                if (rows["step"] >= 1200).any() and not rows["is_final"].any():
                    for pid in _trial_worker_pids():
                        os.kill(pid, signal.SIGKILL)
                        killed[pid] = int(rows["step"].max())
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    run_study(parse_spec(STUDY), yaml.safe_dump(STUDY), tmp_path)
    thread.join(timeout=5)
    assert killed, "the trial finished before it could be killed"
    rows = pd.read_parquet(tmp_path / "results")
    assert len(rows) == 10 and rows["step"].is_unique  # every evaluation once: 600 ... 6000
    final = rows[rows["is_final"]]
    assert len(final) == 1 and final["status"].iloc[0] == "ok"
    # the retry continued from a checkpoint at or after the last row seen before the kill
    assert final["restored_from_step"].iloc[0] >= 600
    assert rows[rows["step"] <= final["restored_from_step"].iloc[0]]["restored_from_step"].eq(0).all()
