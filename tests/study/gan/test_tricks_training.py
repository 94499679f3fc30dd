"""Every trick trains a few steps on CPU with every loss (on DCGAN) and on both architecture
families (DCGAN/SNDCGAN and the ResNets), parametrized from the registries so that a new loss,
minibatch layer or architecture is covered automatically. Tiny widths, two steps.

A combination the config documents as invalid must be refused with a ConfigError naming the
field (``refused_field`` states the rules: label noise and flips need a loss with targets,
mm or ns; an architecture switch must be one of that architecture's options; conditional
needs batch norm in G); every other combination must be accepted and train to the end:
status ``ok``, finite FID and losses. None diverges at these sizes, so there is no allowed
exception. Each trick must also change the trained result: with the same seed, the trick-on
run differs from the trick-off baseline (a trick the trial silently ignores fails).

A trial is deterministic on CPU for a given config (``test_baseline_is_deterministic``), so
equal configs met by two tests (the tricks with NS on DCGAN) run once and share the row.
"""
import itertools

import pytest

from study.gan.config import ConfigError, TrialConfig
from study.gan.losses import LOSSES
from study.gan.models import ARCHITECTURES
from study.gan.models.minibatch import MINIBATCH
from study.gan.trial import run_trial
from tests.helpers import trained_row

TRICKS = {
    "feature_matching": {"feature_matching": 0.5},
    "feature_matching_alone": {"feature_matching": 1.0},
    "historical_averaging": {"historical_averaging": 0.1},
    "label_noise": {"label_noise": True},
    "label_flip": {"label_flip": 0.2},
    "g_dropout": {"g_dropout": 0.5},
    "g_lrelu": {"arch_options": "g_lrelu"},
    "d_avgpool": {"arch_options": "d_avgpool"},
    "vbn": {"g_norm": "vbn"},
    # 64 samples: every digit class gets two or more, so intra-FID is finite
    "conditional": {"conditional": True, "metrics": "fid+intra_fid", "eval_samples": 64},
    **{f"d_minibatch={m}": {"d_minibatch": m} for m in MINIBATCH.names() if m != "none"},
}
FAMILIES = ("dcgan", "sndcgan", "resnet_cifar")
STEPS = 2
_rows: dict[TrialConfig, dict] = {}  # config -> its final row


def settings(**kw) -> dict:
    arch = kw.get("architecture", "dcgan")
    base = dict(resolution=ARCHITECTURES.get(arch).resolutions[0], width=1 / 32, z_dim=8, batch_size=8, steps=STEPS,
                eval_every=STEPS, eval_samples=32, penalty="gp", penalty_lambda=1.0, threads=1)
    return {**base, **kw}


def refused_field(s: dict) -> str | None:
    """The field a ConfigError must name for these settings by the config's documented rules
    (study/gan/config.py), or None when they are valid."""
    if (s.get("label_noise") or s.get("label_flip")) and not LOSSES.get(s.get("loss", "ns")).smoothing:
        return "loss"
    options = {o for o in s.get("arch_options", "").split("+") if o}
    if not options <= set(ARCHITECTURES.get(s.get("architecture", "dcgan")).options):
        return "arch_options"
    if s.get("conditional") and s.get("g_norm", "bn") != "bn":
        return "g_norm"
    return None


def train(**kw) -> dict:
    """The final row of the trial, which must be accepted by the config and train to the end
    with finite results; or, for a combination the rules refuse, the ConfigError's check."""
    s = settings(**kw)
    field = refused_field(s)
    if field is not None:
        with pytest.raises(ConfigError, match=rf"^trial\.{field}: "):
            TrialConfig.from_dict(s)
        return {}
    cfg = TrialConfig.from_dict(s)  # a ConfigError here is a valid combination refused: a failure
    return trained_row(cfg, _rows)


def result(row: dict) -> tuple[float, float, float]:
    return row["d_loss"], row["g_loss"], row["fid"]


def assert_changes(row: dict, trick: dict, **common) -> None:
    """The trick-on row differs from the trick-off run with the same seed (and evaluation)."""
    baseline = {**common, **{k: v for k, v in trick.items() if k == "eval_samples"}}
    base = train(**baseline)
    assert result(row) != result(base), f"{trick} trained exactly as without it ({baseline}): ignored?"


@pytest.mark.parametrize("trick,loss", list(itertools.product(TRICKS, LOSSES.names())))
def test_trick_with_every_loss(trick, loss):
    row = train(loss=loss, **TRICKS[trick])
    if row:
        assert_changes(row, TRICKS[trick], loss=loss)
        if TRICKS[trick].get("feature_matching") == 1.0:  # L_G is the squared feature distance alone
            assert row["g_loss"] >= 0


@pytest.mark.parametrize("trick,arch", list(itertools.product(TRICKS, FAMILIES)))
def test_trick_on_both_architecture_families(trick, arch):
    row = train(architecture=arch, loss="ns", **TRICKS[trick])
    if row:
        assert_changes(row, TRICKS[trick], architecture=arch, loss="ns")


@pytest.mark.parametrize("arch", FAMILIES)
def test_all_tricks_at_once(arch):
    options = "g_lrelu" + ("+d_avgpool" if "d_avgpool" in ARCHITECTURES.get(arch).options else "")
    tricks = dict(feature_matching=0.5, historical_averaging=0.1, label_noise=True, label_flip=0.1, g_dropout=0.5,
                  arch_options=options, conditional=True, d_minibatch="discrimination", metrics="fid+intra_fid",
                  eval_samples=64)
    row = train(architecture=arch, **tricks)  # intra_fid finite: train checks it for a conditional trial
    assert_changes(row, tricks, architecture=arch, loss="ns")


def test_baseline_is_deterministic():
    """Same config, same seed: the same result, so 'differs from the baseline' means the trick."""
    cfg = TrialConfig.from_dict(settings(loss="ns"))
    again = []
    run_trial(cfg, again.append)
    assert result(again[-1]) == result(train(loss="ns"))
