"""Kill the driver with SIGKILL in the middle of a study (its whole process group, Ray's local
processes included: a machine lost), resume, and check the Parquet dataset holds exactly the
expected trial rows, nothing finished ran twice and the BO rounds continued where they were."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import read_rows, result_files

pytestmark = pytest.mark.ray

STUDY = {
    "name": "killed",
    "factors": {"loss": ["ns", "wgan"]},
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 40, "eval_every": 20,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0]},
    "bo": {"rounds": 3, "trials_per_round": 2, "sampler": "tpe", "seed": 0},
}
EXPECTED = 2 * 1 + 2 * 3 * 2  # grid + BO trials


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "study.cli", *args]


def _final(out: Path) -> pd.DataFrame:
    rows = read_rows(result_files(out / "results"))
    return rows[rows["is_final"].astype(bool)]


@pytest.mark.parametrize("fuse", [1, 2])
def test_driver_killed_mid_bo_then_resumed(tmp_path, fuse):
    """fuse 2: each model's BO round trains as one fused group; its members resume as trials
    (with 5x the steps: fused rounds end faster than the second driver's refusal returns)."""
    study_file = tmp_path / "study.yaml"
    trial = {**STUDY["trial"], "steps": 40 * (1 + 4 * (fuse > 1)), "eval_every": 20 * (1 + 4 * (fuse > 1))}
    study_file.write_text(yaml.safe_dump({**STUDY, "trial": trial, "resources": {"cpu": 1, "fuse": fuse}}))
    out = tmp_path / "study"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    driver = subprocess.Popen(_cli("run", str(study_file), "--out", str(out), "--num-cpus", "2"), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    second = None
    try:
        while time.time() < deadline:
            final = _final(out)
            if second is None and (out / "driver.lock").exists() and (out / "study.yaml").exists():  # a 2nd driver
                second = subprocess.run(_cli("resume", str(out), "--num-cpus", "1"), env=env, capture_output=True,
                                        text=True, timeout=120)
            if ((final["phase"] == "bo").sum() >= 3) or driver.poll() is not None:
                break
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
        driver.wait()
    assert second is not None and second.returncode == 2, second and second.stdout + second.stderr
    assert "in use by another driver" in second.stderr and "pid" in second.stderr
    before = _final(out)
    n_bo = int((before["phase"] == "bo").sum())
    assert 3 <= n_bo < 12, f"killed too late or too early: {n_bo} BO trials done"
    kept = before.set_index("trial_key")["timestamp"].to_dict()  # when each finished trial's result came

    done = subprocess.run(_cli("resume", str(out), "--num-cpus", "2"), env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = pd.read_parquet(out / "results")
    final = rows[rows["is_final"]]
    assert len(final) == EXPECTED and final["trial_key"].is_unique
    assert rows.groupby("trial_key").size().eq(2).all()  # two evaluations each, none lost or doubled
    bo = final[final["phase"] == "bo"]
    assert bo.groupby(["model", "bo_round"]).size().to_dict() == {(m, r): 2 for m in ("loss=ns", "loss=wgan")
                                                                   for r in range(3)}
    assert not bo.duplicated(["model", "lr", "beta1", "beta2"]).any()  # no BO setting suggested twice
    assert (out / "optuna" / "journal.log").stat().st_size > 0  # the Optuna studies live in the study directory
    # finished trials did not run again: their final rows are the ones the first driver received
    assert final.set_index("trial_key").loc[list(kept), "timestamp"].to_dict() == kept
    assert [f.name[:5] for f in result_files(out / "results")] == ["part-"] * len(result_files(out / "results"))
    assert "already done" in done.stdout
