"""Issue 22: every size setting is bounded, and a trial's memory is estimated without allocating it."""
import pytest
import torch

from study.gan.config import SIZE_BOUNDS, ConfigError, TrialConfig
from study.gan.memory import estimate
from study.gan.models import HEADS
from study.gan.models.registry import ModelOptions, build_models


@pytest.mark.parametrize("name", sorted(SIZE_BOUNDS))
def test_every_size_setting_is_refused_below_and_above_its_bounds_naming_both(name):
    low, high, _ = SIZE_BOUNDS[name]
    for value in (low - 1, high + 1):
        with pytest.raises(ConfigError, match=rf"^trial\.{name}: invalid value {value}; allowed: an integer >= {low} "
                                              rf"and <= {high:,}"):
            TrialConfig.from_dict({name: value, **({"steps": 10**9} if name == "eval_every" else {})})
    assert getattr(TrialConfig.from_dict({name: high, **({"steps": 10**9} if name == "eval_every" else {})}),
                   name) == high


def test_z_dim_0_and_a_billion_are_refused():
    for z in (0, 10**9):
        with pytest.raises(ConfigError,
                           match=rf"trial\.z_dim: invalid value {z}; allowed: an integer >= 1 and <= 4,096"):
            TrialConfig.from_dict({"z_dim": z})


@pytest.mark.parametrize("extra", [{}, {"architecture": "sndcgan", "resolution": 32, "d_norm": "sn"},
                                   {"conditional": True}, {"g_ema": 0.99}])
def test_the_estimate_counts_the_real_models_parameters_and_scales_with_the_batch(extra):
    cfg = TrialConfig.from_dict(extra)
    g, d = build_models(cfg.architecture, ModelOptions.from_config(cfg, head=HEADS.get(cfg.g_head), head_stats=None,
                                                                   classes=10 if cfg.conditional else 0))
    g_params = sum(p.numel() for p in g.parameters())
    params = g_params + sum(p.numel() for p in d.parameters())  # built for real, on the CPU
    got = estimate(cfg)
    assert got.parameters == params
    assert got.state_bytes == 16 * params + (4 * g_params if cfg.g_ema else 0)  # weights, grads, Adam's 2 moments
    assert got.feature_bytes == 8 * (10_000 + 10_000) * 2048
    double = estimate(TrialConfig.from_dict({**extra, "batch_size": 2 * cfg.batch_size}))
    assert double.activation_bytes == 2 * got.activation_bytes > 0
    assert double.total == got.total + got.activation_bytes


def test_the_dcgan_activations_are_its_layer_outputs_worked_out_by_hand():
    # The digits DCGAN at 8 px, width 0.125 (conv channels 8): count its leaf outputs per example
    cfg = TrialConfig.from_dict({"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 10})
    g, d = build_models(cfg.architecture, ModelOptions.from_config(cfg, head=HEADS.get(cfg.g_head), head_stats=None))
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.numel())) for m in [*g.modules(), *d.modules()]
             if not list(m.children())]
    with torch.no_grad():
        d(g(torch.zeros(2, 16)))
    for h in hooks:
        h.remove()
    per_example = sum(outputs) // 2  # G's and D's layers on a batch of 2 (no parametrization here)
    per_g = sum(o for o, m in zip(outputs, [m for m in g.modules() if not list(m.children())])) // 2
    want = 2 * 4 * 10 * (per_g + 2 * (per_example - per_g))  # outputs and gradients; D sees real and fake
    assert estimate(cfg).activation_bytes == want
