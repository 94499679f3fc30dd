"""Registry combinations train a few steps on CPU (parametrized over the registries, so a new
entry is tested automatically).

The full product loss x penalty x normalizer x architecture x head is 3,600 runs; here it is
covered as: the full loss x penalty x normalizer x head product on DCGAN (the fastest), plus
every architecture x normalizer x head (with NS + GP, which backpropagates twice through the
network) and every architecture x loss x penalty. Every pair of registry entries meets.

Every combination must finish: status ``ok`` at the last step, with a finite FID and finite
losses. None diverges at these sizes (two steps, lambda 1), so a ``diverged`` row means a loss,
penalty, normalizer, head or architecture broke; there is no allowed exception. And each entry
must change what is trained: along each registry axis, with the other settings fixed, every
entry gives a different result (an entry silently ignored, or wired to another's code, fails).

A trial is deterministic on CPU for a given config (tests/study/gan/test_trial.py checks that),
so equal configs met by two tests (DCGAN in the architecture tests) run once and share the row.
"""
import itertools

import pytest

from study.gan.config import TrialConfig
from study.gan.losses import LOSSES
from study.gan.models import ARCHITECTURES, HEADS
from study.gan.normalizers import NORMALIZERS
from study.gan.penalties import PENALTIES
from tests.helpers import trained_row

pytestmark = pytest.mark.slow  # hundreds of short trainings: the whole zoo

STEPS = 2
_rows: dict[TrialConfig, dict] = {}  # config -> its final row


def d_norm_of(norm):
    """A generator-only normalizer (vbn) is tested in G with batch norm in D."""
    return "bn" if NORMALIZERS.get(norm).generator_only else norm


def config(**kw) -> TrialConfig:
    arch = kw.get("architecture", "dcgan")
    res = ARCHITECTURES.get(arch).resolutions[0]
    width = 1 / 64 if arch == "resnet19" else 1 / 32
    base = dict(resolution=res, width=width, z_dim=8, batch_size=8, steps=STEPS, eval_every=STEPS,
                eval_samples=32, penalty_lambda=1.0, threads=1)
    return TrialConfig.from_dict({**base, **kw})


def train(**kw) -> dict:
    """The final row of the trial, which must have trained to the end with finite results."""
    return trained_row(config(**kw), _rows)


def result(row: dict) -> tuple[float, float, float]:
    return row["d_loss"], row["g_loss"], row["fid"]


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


# One line through the DCGAN product per axis (the runs above, reused when they ran first).
REFERENCE = dict(loss="ns", penalty="gp", norm="bn", head="tanh")
AXES = {"loss": LOSSES.names(), "penalty": PENALTIES.names(), "norm": NORMALIZERS.names(), "head": HEADS.names()}


@pytest.mark.parametrize("axis", AXES)
def test_every_entry_changes_the_result(axis):
    """Same seed, one setting varied: every entry trains to a different (d_loss, g_loss, FID)."""
    results = {}
    for name in AXES[axis]:
        s = {**REFERENCE, axis: name}
        results[name] = result(train(loss=s["loss"], penalty=s["penalty"], d_norm=d_norm_of(s["norm"]),
                                     g_norm=s["norm"], g_head=s["head"]))
    same = [(a, b) for a, b in itertools.combinations(results, 2) if results[a] == results[b]]
    assert not same, f"{axis}: these entries train identically: {same}"


def test_every_architecture_changes_the_result():
    results = {arch: result(train(architecture=arch, d_norm="bn", g_norm="bn", g_head="tanh", penalty="gp"))
               for arch in ARCHITECTURES.names()}
    same = [(a, b) for a, b in itertools.combinations(results, 2) if results[a] == results[b]]
    assert not same, f"these architectures train identically: {same}"
