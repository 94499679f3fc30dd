"""The trial: reports at evaluation points, is deterministic, and ends NaN runs as diverged."""
import math

import pytest
import torch

from study.config import TrialConfig
from study.losses import LOSSES, Loss
from study.trial import run_trial

TINY = dict(width=0.125, z_dim=16, batch_size=32, steps=40, eval_every=20, resolution=8, eval_samples=200)


def run(**kw):
    rows = []
    last = run_trial(TrialConfig.from_dict({**TINY, **kw}), rows.append)
    return rows, last


def test_reports_each_evaluation_with_finite_fid():
    rows, last = run()
    assert [r["step"] for r in rows] == [20, 40]
    assert [r["is_final"] for r in rows] == [False, True]
    assert all(r["status"] == "ok" and math.isfinite(r["fid"]) and r["fid"] > 0 for r in rows)
    assert last["best_fid"] == min(r["fid"] for r in rows)
    assert last["fid_samples"] == 200 and last["feature_extractor"] == "digits" and last["fid_split"] == "test"


def test_same_seed_same_result_other_seed_differs():
    a, _ = run(seed=3)
    b, _ = run(seed=3)
    c, _ = run(seed=4)
    assert [r["fid"] for r in a] == [r["fid"] for r in b]
    assert a[-1]["fid"] != c[-1]["fid"]


@pytest.mark.parametrize("unit,expected_g_steps", [("discriminator", 20), ("generator", 40)])
def test_step_unit_counts_d_or_g_steps(monkeypatch, unit, expected_g_steps):
    calls = {"g": 0}
    ns = LOSSES.get("ns")

    def g_loss(fake):
        calls["g"] += 1
        return ns.g_loss(fake)

    monkeypatch.setitem(LOSSES._entries, "ns", Loss("ns", ns.d_loss, g_loss))
    rows, _ = run(n_dis=2, step_unit=unit)
    assert calls["g"] == expected_g_steps
    assert rows[-1]["step"] == 40


def test_nan_loss_ends_the_trial_as_diverged_at_its_step(monkeypatch):
    ns = LOSSES.get("ns")
    calls = {"d": 0}

    def d_loss(real, fake):
        calls["d"] += 1
        out = ns.d_loss(real, fake)
        return out * float("nan") if calls["d"] >= 27 else out

    monkeypatch.setitem(LOSSES._entries, "ns", Loss("ns", d_loss, ns.g_loss))
    rows, last = run(steps=100, eval_every=20)
    assert last["status"] == "diverged" and last["step"] == 27 and last["is_final"]
    assert "non-finite loss at step 27" in last["error"]
    assert math.isnan(last["fid"])
    assert [r["status"] for r in rows] == ["ok", "diverged"]  # the step-20 evaluation came first


def test_wgan_with_gradient_penalty_trains():
    rows, _ = run(loss="wgan", penalty="gp", penalty_lambda=10.0, n_dis=2, lr=1e-4, beta1=0.5, beta2=0.9)
    assert rows[-1]["status"] == "ok" and math.isfinite(rows[-1]["fid"])
