"""Every loss against values worked out by hand on fixed logits.

real logits r = (1, -1), fake logits f = (0, 2); s = sigmoid, log s(x) = -softplus(-x).
softplus(-1) = 0.31326169, softplus(1) = 1.31326169, softplus(0) = ln 2 = 0.69314718,
softplus(2) = 2.12692801, softplus(-2) = 0.12692801. s(1) = 0.73105858, s(-1) = 0.26894142,
s(0) = 0.5, s(2) = 0.88079708.
"""
import math

import pytest
import torch

from study.gan.losses import LOSSES

R = torch.tensor([1.0, -1.0])
F = torch.tensor([0.0, 2.0])
sp = {-2: 0.12692801, -1: 0.31326169, 0: math.log(2), 1: 1.31326169, 2: 2.12692801}
sig = {1: 0.73105858, -1: 0.26894142, 0: 0.5, 2: 0.88079708}

EXPECTED = {
    # d: mean softplus(-r) + mean softplus(f); g (ns): mean softplus(-f); g (mm): -mean softplus(f)
    "ns": ((sp[-1] + sp[1]) / 2 + (sp[0] + sp[2]) / 2, (sp[0] + sp[-2]) / 2),
    "mm": ((sp[-1] + sp[1]) / 2 + (sp[0] + sp[2]) / 2, -(sp[0] + sp[2]) / 2),
    # d: mean f - mean r = 1 - 0; g: -mean f = -1
    "wgan": (1.0, -1.0),
    # d: mean relu(1 - r) = (0 + 2)/2 = 1; mean relu(1 + f) = (1 + 3)/2 = 2 -> 3; g: -1
    "hinge": (3.0, -1.0),
    # d: 0.5 * (mean (r-1)^2 = (0 + 4)/2 = 2, + mean f^2 = (0 + 4)/2 = 2) = 2; g: 0.5 * mean (f-1)^2 = 0.5
    "ls_raw": (2.0, 0.5),
    "ls_sigmoid": (
        0.5 * (((sig[1] - 1) ** 2 + (sig[-1] - 1) ** 2) / 2 + (sig[0] ** 2 + sig[2] ** 2) / 2),
        0.5 * ((sig[0] - 1) ** 2 + (sig[2] - 1) ** 2) / 2,
    ),
}


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_matches_hand_computed_value(name):
    assert name in EXPECTED, f"add a hand-computed expectation for the new loss {name!r}"
    loss = LOSSES.get(name)
    d_exp, g_exp = EXPECTED[name]
    assert loss.d_loss(R, F).item() == pytest.approx(d_exp, abs=1e-6)
    assert loss.g_loss(F).item() == pytest.approx(g_exp, abs=1e-6)


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_is_finite_and_differentiable_on_extreme_logits(name):
    r = torch.tensor([60.0, -60.0], requires_grad=True)
    f = torch.tensor([-60.0, 60.0], requires_grad=True)
    loss = LOSSES.get(name)
    total = loss.d_loss(r, f) + loss.g_loss(f)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown loss 'nope'; allowed: hinge, ls"):
        LOSSES.get("nope")


@pytest.mark.parametrize("name", [n for n in LOSSES.names() if LOSSES.get(n).smoothing])
def test_one_sided_label_smoothing(name):
    # real term becomes 0.9 softplus(-r) + 0.1 softplus(r); the fake term is unchanged
    expected = (0.9 * (sp[-1] + sp[1]) / 2 + 0.1 * (sp[1] + sp[-1]) / 2) + (sp[0] + sp[2]) / 2
    assert LOSSES.get(name).d_loss(R, F, 0.1).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", [n for n in LOSSES.names() if not LOSSES.get(n).smoothing])
def test_smoothing_is_refused_where_undefined(name):
    with pytest.raises(ValueError, match="label_smoothing"):
        LOSSES.get(name).d_loss(R, F, 0.1)


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_a_named_documented_function(name):
    # tracebacks name the loss, and each function states its formula and paper
    loss = LOSSES.get(name)
    for fn in (loss.d_loss, loss.g_loss):
        assert fn.__name__.isidentifier() and fn.__name__ != "<lambda>", f"{name}: {fn.__name__}"
        assert fn.__module__ == "study.gan.losses" and (fn.__doc__ or "").strip(), f"{name}: {fn.__name__}"
