import dataclasses
import hashlib
import json

import pytest

from study.gan.config import NEW_FIELD_DEFAULTS, ConfigError, TrialConfig


def test_defaults_are_valid_and_round_trip():
    cfg = TrialConfig().validated()
    assert TrialConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("arch,head,init,upsample", [
    ("dcgan", "tanh", "dcgan", "transposed"),
    ("sndcgan", "tanh01", "compare_gan", "transposed"),
    ("sndcgan_paper", "tanh", "compare_gan", "transposed"),
    ("resnet_cifar", "sigmoid", "compare_gan", "unpool"),
])
def test_auto_resolves_to_the_architectures_compare_gan_reference(arch, head, init, upsample):
    res = 128 if arch == "resnet19" else 32
    cfg = TrialConfig.from_dict({"architecture": arch, "resolution": res})
    assert (cfg.g_head, cfg.init, cfg.upsample, cfg.z_dist) == (head, init, upsample, "uniform")
    explicit = TrialConfig.from_dict({"architecture": arch, "resolution": res, "g_head": head, "init": init,
                                      "upsample": upsample})
    assert explicit == cfg and explicit.key() == cfg.key()


def test_init_and_upsample_choices_are_per_architecture():
    cfg = TrialConfig.from_dict({"architecture": "resnet_cifar", "resolution": 32, "init": "sngan",
                                 "upsample": "nearest"})
    assert (cfg.init, cfg.upsample) == ("sngan", "nearest")
    with pytest.raises(ConfigError, match=r"trial\.upsample: invalid value 'nearest'; allowed: transposed for dcgan"):
        TrialConfig.from_dict({"upsample": "nearest"})
    with pytest.raises(ConfigError, match=r"trial\.init: invalid value 'sngan'; allowed: compare_gan for sndcgan"):
        TrialConfig.from_dict({"architecture": "sndcgan", "resolution": 32, "init": "sngan"})


def test_the_old_ls_name_is_refused_with_what_to_write_instead():
    with pytest.raises(ConfigError, match=r"trial\.loss: loss 'ls' is no longer accepted: write ls_sigmoid .* "
                                          r"or ls_raw"):
        TrialConfig.from_dict({"loss": "ls"})


@pytest.mark.parametrize("values,message", [
    ({"loss": "nope"}, r"trial\.loss: invalid value 'nope'; allowed: hinge, ls_raw, ls_sigmoid, mm, ns, wgan"),
    ({"d_norm": "spectral"}, r"trial\.d_norm: invalid value 'spectral'; allowed: bn, ln, none, sn, swn, wn"),
    ({"lr": -0.1}, r"trial\.lr: invalid value -0\.1; allowed: 0 < lr < 1"),
    ({"beta2": 1.0}, r"trial\.beta2: invalid value 1\.0"),
    ({"n_dis": 0}, r"trial\.n_dis: invalid value 0; allowed: an integer >= 1"),
    ({"steps": 2.5}, r"trial\.steps: expected int, got 2\.5"),
    ({"steps": True}, r"trial\.steps: expected int, got True"),
    ({"lr": "fast"}, r"trial\.lr: expected float, got 'fast'"),
    ({"resolution": 20}, r"trial\.resolution: invalid value 20"),
    ({"learning_rate": 0.1}, r"trial\.learning_rate: unknown setting; allowed: arch_options, architecture"),
    ({"step_unit": "epochs"}, r"trial\.step_unit: invalid value 'epochs'; allowed: discriminator, generator"),
    ({"label_smoothing": 0.1, "loss": "wgan"},
     r"trial\.loss: invalid value 'wgan'; allowed: mm, ns with label_smoothing"),
    ({"arch_options": "skip"},
     r"trial\.arch_options: invalid value 'skip'; allowed: .*\['eps', 'g_lrelu', 'd_avgpool'\] for dcgan"),
    ({"architecture": "resnet_cifar", "resolution": 32, "arch_options": "skip+wide"}, r"trial\.arch_options"),
    ({"g_ema": 1.0}, r"trial\.g_ema: invalid value 1\.0"),
    ({"precision": "fp8"}, r"trial\.precision: invalid value 'fp8'; allowed: fp32, bf16"),
    ({"channels_last": "yes"}, r"trial\.channels_last: expected bool, got 'yes'"),
])
def test_bad_values_name_the_field_and_what_is_allowed(values, message):
    with pytest.raises(ConfigError, match=message):
        TrialConfig.from_dict(values)


def test_yaml_spellings_are_accepted():
    cfg = TrialConfig.from_dict({"lr": "1e-4", "steps": 100.0, "beta1": 0})
    assert cfg.lr == 1e-4 and cfg.steps == 100 and isinstance(cfg.steps, int) and cfg.beta1 == 0.0


def test_lambda_is_canonicalised_without_a_penalty():
    a = TrialConfig.from_dict({"penalty": "none", "penalty_lambda": 10})
    b = TrialConfig.from_dict({"penalty": "none", "penalty_lambda": 1})
    assert a.penalty_lambda == 0.0 and a.key("s") == b.key("s")
    gp = TrialConfig.from_dict({"penalty": "gp", "penalty_lambda": 10})
    assert gp.penalty_lambda == 10.0


def test_key_is_stable_and_ignores_execution_settings():
    cfg = TrialConfig(g_head="tanh", z_dist="normal").validated()  # the defaults when results were first stored
    # Pinned: changing the key scheme would orphan every stored study's results on resume.
    assert cfg.key("demo", "grid") == "3e1e4cb563ea0b67"
    # the key covers the fields the first stored results had; later fields only when not default
    identity = {k: v for k, v in dataclasses.asdict(cfg).items()
                if k not in ("device", "threads", "data_dir", "prepared_dir", "feature_weights", "paper_fid",
                             "step_mode")
                and k not in NEW_FIELD_DEFAULTS}
    blob = json.dumps([["demo", "grid"], identity], sort_keys=True, separators=(",", ":"))
    assert cfg.key("demo", "grid") == hashlib.sha256(blob.encode()).hexdigest()[:16]
    assert dataclasses.replace(cfg, threads=4, device="cpu").key("demo", "grid") == cfg.key("demo", "grid")
    assert dataclasses.replace(cfg, step_mode="graph").key("demo", "grid") == cfg.key("demo", "grid")
    # where the data lies is not what is computed: a study moved to other storage keeps its keys
    assert dataclasses.replace(cfg, data_dir="/a", prepared_dir="/b").key("demo", "grid") == cfg.key("demo", "grid")
    # ... nor where the extractor's weights lie (rows record their sha256)
    assert dataclasses.replace(cfg, feature_weights="/w.pth").key("demo", "grid") == cfg.key("demo", "grid")
    assert dataclasses.replace(cfg, seed=1).key("demo", "grid") != cfg.key("demo", "grid")
    assert cfg.key("demo", "bo") != cfg.key("demo", "grid")
    assert dataclasses.replace(cfg, g_ema=0.999).key("demo", "grid") != cfg.key("demo", "grid")


def test_arch_options_and_d_lr():
    cfg = TrialConfig.from_dict({"architecture": "resnet_cifar", "resolution": 32, "arch_options": "skip+ cin"})
    assert cfg.arch_option_set() == {"skip", "cin"}
    assert TrialConfig.from_dict({"architecture": "resnet19", "resolution": 128, "arch_options": "all"}) \
        .arch_option_set() == {"skip", "cin", "opt", "sum", "eps"}
    assert TrialConfig.from_dict({"lr": 1e-4}).d_lr == 1e-4
    assert TrialConfig.from_dict({"lr": 1e-4, "lr_d": 4e-4}).d_lr == 4e-4


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrialConfig().lr = 1.0  # type: ignore[misc]
