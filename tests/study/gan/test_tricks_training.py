"""Every trick trains a few steps on CPU with every loss (on DCGAN) and on both architecture
families (DCGAN/SNDCGAN and the ResNets), parametrized from the registries so that a new loss,
minibatch layer or architecture is covered automatically. Tiny widths, two steps."""
import itertools
import math

import pytest

from study.gan.config import ConfigError, TrialConfig
from study.gan.losses import LOSSES
from study.gan.models import ARCHITECTURES
from study.gan.models.minibatch import MINIBATCH
from study.gan.trial import run_trial

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
    "conditional": {"conditional": True, "metrics": "fid+intra_fid"},
    **{f"d_minibatch={m}": {"d_minibatch": m} for m in MINIBATCH.names() if m != "none"},
}
FAMILIES = ("dcgan", "sndcgan", "resnet_cifar")


def config(**kw):
    arch = kw.get("architecture", "dcgan")
    base = dict(resolution=ARCHITECTURES.get(arch).resolutions[0], width=1 / 32, z_dim=8, batch_size=8, steps=2,
                eval_every=2, eval_samples=32, penalty="gp", penalty_lambda=1.0, threads=1)
    try:
        return TrialConfig.from_dict({**base, **kw})
    except ConfigError as e:  # a combination the config refuses (label noise with WGAN, ...)
        pytest.skip(f"refused by the config: {e}")


def train(cfg):
    rows = []
    run_trial(cfg, rows.append)
    assert rows and rows[-1]["status"] in ("ok", "diverged") and rows[-1]["step"] >= 1, rows[-1:]
    if rows[-1]["status"] == "ok":
        assert math.isfinite(rows[-1]["fid"])
    return rows[-1]


@pytest.mark.parametrize("trick,loss", list(itertools.product(TRICKS, LOSSES.names())))
def test_trick_with_every_loss(trick, loss):
    train(config(loss=loss, **TRICKS[trick]))


@pytest.mark.parametrize("trick,arch", list(itertools.product(TRICKS, FAMILIES)))
def test_trick_on_both_architecture_families(trick, arch):
    train(config(architecture=arch, loss="ns", **TRICKS[trick]))


@pytest.mark.parametrize("arch", FAMILIES)
def test_all_tricks_at_once(arch):
    options = "g_lrelu" + ("+d_avgpool" if "d_avgpool" in ARCHITECTURES.get(arch).options else "")
    row = train(config(architecture=arch, feature_matching=0.5, historical_averaging=0.1, label_noise=True,
                       label_flip=0.1, g_dropout=0.5, arch_options=options, conditional=True,
                       d_minibatch="discrimination", metrics="fid+intra_fid"))
    assert "intra_fid" in row
