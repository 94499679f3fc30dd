"""Study files: the demo parses; malformed files give an error naming the field."""
from pathlib import Path

import pytest
import yaml

from search_spaces.kurach2019 import LITERATURE_GRID
from study.engine.spec import load_spec, parse_spec
from study.gan.config import ConfigError

DEMO = Path(__file__).parents[3] / "search_spaces" / "demo.yaml"

BASE = {
    "name": "t",
    "factors": {"loss": ["ns", "wgan"], "d_norm": ["none", "sn"]},
    "trial": {"steps": 10, "eval_every": 5},
    "grid": {"preset": "kurach2019", "select": [1, 9], "seeds": [0, 1]},
    "bo": {"rounds": 2, "trials_per_round": 3, "sampler": "tpe"},
    "seeds": {"count": 3},
}


def with_(path, value):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    *parents, last = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()


def test_demo_study_parses():
    spec = load_spec(DEMO)
    assert spec.name == "demo" and len(spec.models()) == 6
    assert len(spec.grid_trials()) == 12 and spec.bo.rounds == 2


def test_models_are_the_cartesian_product_and_grid_is_model_x_setting_x_seed():
    spec = parse_spec(BASE)
    assert [m.name for m in spec.models()] == ["loss=ns,d_norm=none", "loss=ns,d_norm=sn",
                                               "loss=wgan,d_norm=none", "loss=wgan,d_norm=sn"]
    trials = spec.grid_trials()
    assert len(trials) == 4 * 2 * 2
    _, index, cfg = trials[0]
    assert index == 1 and cfg.lr == LITERATURE_GRID[1]["lr"] and cfg.n_dis == 1 and cfg.steps == 10


def test_lambda_settings_collapse_without_a_penalty():
    # Table 1 with penalty none: lambda in {1, 10} is moot, so 24 settings give 12 trials per model.
    spec = parse_spec({"name": "t", "grid": {"preset": "kurach2019"}})
    assert len(LITERATURE_GRID) == 24 and len(spec.grid_trials()) == 12
    gp = parse_spec({"name": "t", "trial": {"penalty": "gp"}, "grid": {}})
    assert len(gp.grid_trials()) == 24


def test_where_filters_the_preset():
    spec = parse_spec(with_("grid.where", {"n_dis": 5, "lr": [0.001]})
                      | {"grid": {"where": {"n_dis": 5, "lr": [0.001]}}})
    assert {(c.lr, c.n_dis) for _, _, c in spec.grid_trials()} == {(0.001, 5)}


MALFORMED = [
    ("name", DELETE, r"study\.name: missing"),
    ("name", "has space", r"name: invalid value 'has space'"),
    ("colour", "red", r"study\.colour: unknown key; allowed: name, factors"),
    ("factors.loss", ["ns", "bogus"], r"trial\.loss: invalid value 'bogus'; allowed: hinge"),
    ("factors.loss", [], r"factors\.loss: invalid value \[\]; allowed: a non-empty list"),
    ("factors.loss", "ns", r"factors\.loss: invalid value 'ns'; allowed: a non-empty list"),
    ("factors.loss", ["ns", "ns"], r"factors\.loss: repeated values"),
    ("factors.lr", [0.1], r"factors\.lr: searched by the grid and BO phases"),
    ("factors.colour", ["red"], r"factors\.colour: unknown key"),
    ("trial.lr", 0.1, r"trial\.lr: set by the grid and BO phases"),
    ("trial.steps", -5, r"trial\.steps: invalid value -5; allowed: an integer >= 1"),
    ("trial.steps", "many", r"trial\.steps: expected int, got 'many'"),
    ("trial.architecture", "resnet99", r"trial\.architecture: invalid value 'resnet99'"),
    ("trial.resolution", 12, r"trial\.resolution: invalid value 12"),
    ("trial.d_norm", "bn", r"factors\.d_norm: also fixed in 'trial'"),
    ("grid.select", [], r"grid\.select: invalid value \[\]; allowed: a non-empty list"),
    ("grid.select", [99], r"grid\.select: index 99 out of range; allowed: 0\.\.23"),
    ("grid.select", ["one"], r"grid\.select\[0\]: invalid value 'one'"),
    ("grid.where", {"lr": 0.5}, r"grid\.where\.lr: value 0\.5 is not in the preset"),
    ("grid.preset", "mine", r"grid\.preset: unknown preset 'mine'; allowed: kurach2019"),
    ("grid.seeds", [-1], r"grid\.seeds\[0\]: invalid value -1"),
    ("bo.rounds", 0, r"bo\.rounds: invalid value 0; allowed: an integer >= 1"),
    ("bo.sampler", "cmaes", r"bo\.sampler: invalid value 'cmaes'; allowed: gp, tpe, random"),
    ("bo.trials_per_round", 2.5, r"bo\.trials_per_round: invalid value 2\.5"),
    ("resources.cpu", 0, r"resources\.cpu: invalid value 0"),
    ("resources.gpu", 1.5, r"resources\.gpu: invalid value 1\.5; allowed: a fraction <= 1"),
    ("resources.tpu", 1, r"resources\.tpu: unknown key; allowed: cpu, gpu"),
    ("max_failures", -1, r"max_failures: invalid value -1"),
    ("seeds.count", 0, r"seeds\.count: invalid value 0; allowed: an integer >= 1"),
    ("seeds.from", ["test"], r"seeds\.from: invalid value \['test'\]; allowed: a non-empty list of grid, bo"),
    ("seeds.every", 3, r"seeds\.every: unknown key; allowed: count, from"),
    ("bo.warm_start", "yes", r"bo\.warm_start: invalid value 'yes'; allowed: true, false"),
    ("factors", [], r"factors: expected a mapping, got \[\]"),
    ("trial.seed", 2**64, r"trial\.seed: invalid value 18446744073709551616; allowed: an integer within"),
    ("trial.seed", 2**40, r"trial\.seed: invalid value 1099511627776; allowed: an integer from 0 to 4294967295"),
    ("grid.seeds", [2**40], r"grid\.seeds\[0\]: invalid value 1099511627776; allowed: an integer from 0 to 4294967295"),
    ("bo.seed", 2**33, r"bo\.seed: invalid value 8589934592; allowed: an integer from 0 to 4294967295"),
    ("trial.steps", 2**70, r"trial\.steps: invalid value 1180591620717411303424; allowed: an integer within"),
    ("trial.steps", "2.5", r"trial\.steps: expected int, got '2\.5'"),
    ("trial.width", "nan", r"trial\.width: expected float, got 'nan'"),
    ("trial.device", "cuda", r"trial\.device: 'cuda' needs a GPU per trial, but resources\.gpu is 0"),
]


@pytest.mark.parametrize("path,value,message", MALFORMED, ids=[f"{p}={v!r}" for p, v, _ in MALFORMED])
def test_malformed_study_names_the_field(path, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(with_(path, value))


def test_numbers_written_as_strings_are_read_alike_for_floats_and_integers():
    spec = parse_spec(with_("trial.width", "0.25") | {"trial": {"width": "0.25", "steps": "200", "z_dim": "1e2"}})
    cfg = spec.config(spec.models()[0])
    assert (cfg.width, cfg.steps, cfg.z_dim) == (0.25, 200, 100)


def test_a_key_given_twice_is_refused_and_exponents_are_numbers(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\ngrid: {select: [1]}\ntrial:\n  steps: 10\n  steps: 20\n")
    with pytest.raises(ConfigError, match=r"key 'steps' appears twice \(lines 4 and 5\)"):
        load_spec(f)
    f.write_text("name: t\nname: u\ngrid: {select: [1]}\n")
    with pytest.raises(ConfigError, match=r"key 'name' appears twice"):
        load_spec(f)
    f.write_text("name: t\ngrid: {select: [1]}\ntrial: {label_smoothing: 1e-1, instance_noise: 5E-2}\n")
    cfg = load_spec(f).config(load_spec(f).models()[0])
    assert (cfg.label_smoothing, cfg.instance_noise) == (0.1, 0.05)


def test_a_study_needs_a_phase_and_valid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="neither 'grid' nor 'bo' is set"):
        parse_spec({"name": "t"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"study: expected a mapping"):
        parse_spec(["a", "list"])


def test_view_settings_are_validated_and_default_off():
    from study.engine.spec import EarlyStoppingSpec

    base = {"name": "v", "grid": {"select": [1]}}
    spec = parse_spec(base)
    assert spec.keep_generators == 1 and spec.early_stopping is None and spec.tensorboard is False
    spec = parse_spec({**base, "keep_generators": 3, "tensorboard": True,
                       "early_stopping": {"scheduler": "median", "grace_steps": 200}})
    assert spec.keep_generators == 3 and spec.tensorboard is True
    assert spec.early_stopping == EarlyStoppingSpec("median", 200, 3, 3, ("grid", "bo"))
    for bad, message in (({"keep_generators": -1}, "keep_generators: invalid value -1; allowed: an integer >= 0"),
                         ({"tensorboard": "yes"}, "tensorboard: invalid value 'yes'; allowed: true, false"),
                         ({"early_stopping": {"scheduler": "pbt"}},
                          "early_stopping.scheduler: invalid value 'pbt'; allowed: asha, median"),
                         ({"early_stopping": {"phases": ["seeds"]}}, "early_stopping.phases: invalid value"),
                         ({"early_stopping": {"reduction_factor": 1}},
                          "early_stopping.reduction_factor: invalid value 1; allowed: an integer >= 2"),
                         ({"factors": {"sample_seed": [0, 1]}}, "factors.sample_seed: one per study"),
                         ({"trial": {"sample_grid": 5000}}, "trial.sample_grid: invalid value 5000")):
        with pytest.raises(ConfigError, match=message):
            parse_spec({**base, **bad})


def test_resources_fuse_is_a_whole_number_and_excludes_early_stopping():
    base = {"name": "f", "trial": {"steps": 10}, "grid": {"preset": "kurach2019", "select": [1]}}
    assert parse_spec({**base, "resources": {"gpu": 1, "fuse": 10}}).resources.fuse == 10
    assert parse_spec(base).resources.fuse == 1
    with pytest.raises(ConfigError, match=r"resources.fuse: invalid value 0; allowed: an integer >= 1"):
        parse_spec({**base, "resources": {"fuse": 0}})
    with pytest.raises(ConfigError, match=r"resources.fuse: invalid value 4 with early_stopping; allowed: 1"):
        parse_spec({**base, "resources": {"fuse": 4}, "early_stopping": {"scheduler": "asha", "grace_steps": 2}})
