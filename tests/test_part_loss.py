"""A finished study on real Ray whose part file is damaged: with its checksummed copy nothing runs
again; with the copy gone too, ``resume`` runs every trial whose final row is missing (grid and
BO, the BO trials with their recorded setting and key although Optuna holds them complete), and
``status`` agrees with what resume runs before and after."""
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from study.engine.driver import run_study
from study.engine.spec import parse_spec
from study.engine.status import study_status

pytestmark = pytest.mark.ray

STUDY = {
    "name": "lossy",
    "factors": {"loss": ["ns"]},
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 20, "eval_every": 10,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0]},
    "bo": {"rounds": 2, "trials_per_round": 2, "sampler": "tpe", "seed": 0},
    "resources": {"cpu": 1},
}
SETTING = ["phase", "bo_round", "lr", "beta1", "beta2", "n_dis", "seed"]


@pytest.fixture(scope="module")
def finished(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("lossy") / "study"
    run_study(parse_spec(STUDY), yaml.safe_dump(STUDY), out, log=lambda *a: None)
    return out


def _final(out: Path) -> pd.DataFrame:
    rows = pd.read_parquet(out / "results")
    return rows[rows["is_final"]].set_index("trial_key").sort_index()


def _resume(out: Path):
    return run_study(parse_spec(STUDY), (out / "study.yaml").read_text(), out, log=lambda *a: None)


def _pending(out: Path) -> int:
    return int(study_status(out, log=lambda *a: None)["pending"].sum())


def _copy(finished, tmp_path) -> tuple[Path, Path]:
    out = tmp_path / "study"
    shutil.copytree(finished, out)
    parts = sorted((out / "results").glob("part-*.parquet"))
    assert len(parts) == 1 and not list((out / "results").glob("[0-9a-f]*.parquet"))  # own files deleted
    return out, parts[0]


def test_a_truncated_part_with_its_copy_is_rebuilt_and_nothing_runs_again(finished, tmp_path):
    out, part = _copy(finished, tmp_path)
    before = _final(out)
    part.write_bytes(part.read_bytes()[:100])
    assert _pending(out) == 0  # status reads the copy
    run = _resume(out)
    assert run.grid_trials + run.bo_trials == 0 and _pending(out) == 0
    pd.testing.assert_frame_equal(_final(out), before)


def test_a_part_lost_with_its_copy_runs_again_every_trial_grid_and_bo(finished, tmp_path):
    out, part = _copy(finished, tmp_path)
    before = _final(out)
    assert len(before) == 1 + 2 * 2
    part.write_bytes(b"junk")
    shutil.rmtree(out / "results" / ".parts")
    assert _pending(out) == 5  # what status says is left ...
    run = _resume(out)
    assert (run.grid_trials, run.bo_trials) == (1, 4)  # ... is what resume runs
    assert _pending(out) == 0 and _resume(out).bo_trials == 0  # and then the study is finished
    after = _final(out)
    assert list(after.index) == list(before.index)  # every key once, the same keys
    pd.testing.assert_frame_equal(after[SETTING], before[SETTING])
    assert after["fid"].tolist() == pytest.approx(before["fid"].tolist(), rel=1e-6)  # the same trials, retrained
    assert len(list((out / "results" / ".quarantine").iterdir())) == 1  # the junk kept aside
