"""Issue 22: a trial whose networks and batches fit no node of the real Ray cluster is refused
before anything starts, with the estimate and the node's memory in one line."""
import pytest
import yaml

from study.engine.driver import run_study
from study.engine.spec import parse_spec
from study.gan.config import ConfigError, TrialConfig
from study.gan.memory import estimate

pytestmark = pytest.mark.ray


def test_a_trial_too_big_for_every_node_is_refused_with_the_numbers(ray_local, tmp_path):
    trial = {"steps": 10, "eval_every": 5, "width": 16, "batch_size": 65536}  # ~370 GiB: more than any machine here
    need = estimate(TrialConfig.from_dict(trial))
    largest = max(n["Resources"].get("memory", 0) for n in ray_local.nodes() if n["Alive"])
    assert need.total > largest > 0
    study = {"name": "huge", "trial": trial, "grid": {"select": [1]}, "resources": {"cpu": 1}}
    with pytest.raises(ConfigError) as refused:
        run_study(parse_spec(study), yaml.safe_dump(study), tmp_path)
    line = str(refused.value)
    assert "\n" not in line and line.startswith("trial: model ") and "batch_size 65536" in line
    assert f"{need.total / 2**30:.1f} GiB" in line and f"{largest / 2**30:.1f} GiB of the largest node" in line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_trial_that_fits_is_not_refused(ray_local):
    from study.engine.tune.runner import check_memory

    study = parse_spec({"name": "small", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [1]}})
    check_memory(study, 2**30)  # the digits DCGAN: about 0.3 GiB
