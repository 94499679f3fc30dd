"""Registry combinations train a few steps on CPU without error (parametrized over the
registries, so a new entry is tested automatically).

The full product loss x penalty x normalizer x architecture x head is 3,600 runs; here it is
covered as: the full loss x penalty x normalizer x head product on DCGAN (the fastest), plus
every architecture x normalizer x head (with NS + GP, which backpropagates twice through the
network) and every architecture x loss x penalty. Every pair of registry entries meets.
"""
import itertools
import math

import pytest

from study.gan.config import TrialConfig
from study.gan.losses import LOSSES
from study.gan.models import ARCHITECTURES, HEADS
from study.gan.normalizers import NORMALIZERS
from study.gan.penalties import PENALTIES
from study.gan.trial import run_trial

pytestmark = pytest.mark.slow  # hundreds of short trainings: the whole zoo


def d_norm_of(norm):
    """A generator-only normalizer (vbn) is tested in G with batch norm in D."""
    return "bn" if NORMALIZERS.get(norm).generator_only else norm


def train(**kw):
    arch = kw.get("architecture", "dcgan")
    res = ARCHITECTURES.get(arch).resolutions[0]
    width = 1 / 64 if arch == "resnet19" else 1 / 32
    base = dict(resolution=res, width=width, z_dim=8, batch_size=8, steps=2, eval_every=2, eval_samples=32,
                penalty_lambda=1.0, threads=1)
    rows = []
    run_trial(TrialConfig.from_dict({**base, **kw}), rows.append)
    assert rows and rows[-1]["status"] in ("ok", "diverged") and rows[-1]["step"] >= 1
    if rows[-1]["status"] == "ok":
        assert math.isfinite(rows[-1]["fid"])


@pytest.mark.parametrize("loss,penalty,norm,head", list(itertools.product(
    LOSSES.names(), PENALTIES.names(), NORMALIZERS.names(), HEADS.names())))
def test_loss_penalty_normalizer_head_on_dcgan(loss, penalty, norm, head):
    train(loss=loss, penalty=penalty, d_norm=d_norm_of(norm), g_norm=norm, g_head=head)


@pytest.mark.parametrize("arch,norm,head", list(itertools.product(
    ARCHITECTURES.names(), NORMALIZERS.names(), HEADS.names())))
def test_architecture_normalizer_head(arch, norm, head):
    train(architecture=arch, d_norm=d_norm_of(norm), g_norm=norm, g_head=head, penalty="gp")


@pytest.mark.parametrize("arch,loss,penalty", list(itertools.product(
    [a for a in ARCHITECTURES.names() if a != "dcgan"], LOSSES.names(), PENALTIES.names())))
def test_architecture_loss_penalty(arch, loss, penalty):
    train(architecture=arch, loss=loss, penalty=penalty, d_norm="sn")
