"""Factors of named settings (issue 14's presets compare tricks that are several fields each)."""
from pathlib import Path

import pytest

from study.engine.spec import load_spec, parse_spec
from study.gan.config import ConfigError

SPACES = Path(__file__).parents[3] / "search_spaces"
BASE = {"name": "t", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [5], "seeds": [0]}}


def test_tricks_presets_parse_into_objective_x_trick_models():
    spec = load_spec(SPACES / "tricks_digits.yaml")
    models = spec.models()
    assert len(models) == 20 and len(spec.grid_trials()) == 40
    by_name = {m.name: m for m in models}
    cfg = spec.config(by_name["objective=wgan_gp,trick=feature_matching"])
    assert (cfg.loss, cfg.penalty, cfg.feature_matching) == ("wgan", "gp", 1.0)
    cfg = spec.config(by_name["objective=ns,trick=conditional"])
    assert cfg.conditional and cfg.metric_set() == ("fid", "intra_fid") and cfg.penalty == "none"
    assert len(load_spec(SPACES / "tricks_labels_digits.yaml").grid_trials()) == 10


def test_bundles_mix_with_plain_factors():
    spec = parse_spec({**BASE, "factors": {"d_norm": ["none", "sn"], "t": {"a": {}, "b": {"g_dropout": 0.5}}}})
    assert [m.name for m in spec.models()] == ["d_norm=none,t=a", "d_norm=none,t=b", "d_norm=sn,t=a", "d_norm=sn,t=b"]
    assert spec.config(spec.models()[3]).g_dropout == 0.5


@pytest.mark.parametrize("factors,message", [
    ({"loss": {"a": {}}}, r"factors\.loss: a factor of named settings needs a name that is no trial setting"),
    ({"status": {"a": {}}}, r"factors\.status: a factor of named settings needs a name that is no trial setting"),
    ({"t": {}}, r"factors\.t: invalid value \{\}"),
    ({"t": {"a": {"nope": 1}}}, r"factors\.t\.a\.nope: unknown key"),
    ({"t": {"a": {"lr": 0.1}}}, r"factors\.t\.a\.lr: searched by the grid and BO phases"),
    ({"t": {"a": {"steps": 3}}}, r"factors\.t\.a\.steps: also set by trial"),
    ({"loss": ["ns"], "t": {"a": {"loss": "wgan"}}}, r"factors\.t\.a\.loss: also set by factors\.loss"),
    ({"t": {"a": {"loss": "wgan", "label_flip": 0.1}}}, r"trial\.loss: invalid value 'wgan'.*\(in model t=a\)"),
])
def test_bad_bundles_name_the_field(factors, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec({**BASE, "factors": factors})
