"""Issue 22: Ray Tune's "Experiment state snapshotting has been triggered multiple times" warning
(54 lines of make demo) is not printed: a study never restores from Tune's experiment state."""
import logging

import pytest
import yaml

from study.engine.driver import run_study
from study.engine.spec import parse_spec

pytestmark = pytest.mark.ray


def test_frequent_checkpoints_print_no_snapshot_warning(ray_local, tmp_path, capfd, caplog):
    # two trials checkpointing at every one of 7 evaluations, well inside Tune's 5 s window
    study = {"name": "chatty", "factors": {"loss": ["ns", "wgan"]},
             "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 16, "steps": 40, "eval_every": 5,
                       "eval_samples": 100}, "grid": {"select": [1]}, "resources": {"cpu": 1}}
    caplog.set_level(logging.WARNING)
    said = []
    run = run_study(parse_spec(study), yaml.safe_dump(study), tmp_path, log=said.append)
    assert run.outcomes == {"ok": 2}
    out = capfd.readouterr()
    seen = out.out + out.err + caplog.text + "\n".join(said)
    assert "snapshotting has been triggered" not in seen
