"""Ray's side of a study: resources checked against the real cluster before anything is written."""
import pytest
import yaml

from study.engine.driver import run_study
from study.engine.spec import parse_spec
from study.gan.config import ConfigError

pytestmark = pytest.mark.ray


def test_resources_no_node_can_hold_are_refused_before_anything_runs(ray_local, tmp_path):
    # 64 GPUs: more than any one machine has, so the refusal holds on a GPU machine too
    study = {"name": "big", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [1]},
             "resources": {"cpu": 1, "gpu": 64}}
    with pytest.raises(ConfigError, match=r"resources: a trial asks for \{cpu: 1, gpu: 64\} but no node"):
        run_study(parse_spec(study), yaml.safe_dump(study), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written (the driver lock came and went)
