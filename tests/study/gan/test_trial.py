"""The trial: reports at evaluation points, is deterministic, and ends NaN runs as diverged."""
import math

import pytest
import torch

from study.gan.config import TrialConfig
from study.gan.losses import LOSSES, Loss
from study.gan.trial import run_trial

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

    def d_loss(real, fake, smoothing=0.0):
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


def test_iwgan_critic_schedule():
    from study.gan.training.schedule import critic_steps

    cfg = TrialConfig.from_dict({"n_dis": 5, "n_dis_schedule": "iwgan"})
    got = [critic_steps(cfg, i) for i in (0, 24, 25, 26, 499, 500, 501, 1000)]
    assert got == [50, 50, 5, 5, 5, 50, 5, 50]
    assert critic_steps(TrialConfig.from_dict({"n_dis": 5}), 0) == 5


def test_iwgan_schedule_counts_d_steps(monkeypatch):
    calls = {"d": 0}
    ns = LOSSES.get("ns")

    def d_loss(real, fake, smoothing=0.0):
        calls["d"] += 1
        return ns.d_loss(real, fake, smoothing)

    monkeypatch.setitem(LOSSES._entries, "ns", Loss("ns", d_loss, ns.g_loss, True))
    rows, _ = run(n_dis=2, n_dis_schedule="iwgan", steps=120, eval_every=120)
    # G steps 0, 1, 2 take 50 D steps each: 150 >= 120 after the third G step
    assert calls["d"] == 150 and rows[-1]["step"] == 150


def test_instance_noise_decays_linearly_to_zero():
    from study.gan.training.schedule import instance_noise_std

    cfg = TrialConfig.from_dict({"instance_noise": 0.2, "steps": 100})
    assert [instance_noise_std(cfg, s) for s in (0, 50, 100, 150)] == pytest.approx([0.2, 0.1, 0.0, 0.0])
    cfg = TrialConfig.from_dict({"instance_noise": 0.2, "instance_noise_steps": 10, "steps": 100})
    assert instance_noise_std(cfg, 5) == pytest.approx(0.1)
    assert instance_noise_std(TrialConfig(), 0) == 0.0


def test_separate_d_learning_rate_and_frozen_head_params(monkeypatch):
    seen = []
    real_adam = torch.optim.Adam

    def adam(params, lr, betas):
        params = list(params)
        seen.append((lr, betas, sum(p.numel() for p in params)))
        return real_adam(params, lr=lr, betas=betas)

    monkeypatch.setattr(torch.optim, "Adam", adam)
    run(lr=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9, g_head="bn_clip_frozen")
    (g_lr, g_betas, _), (d_lr, _, _) = seen
    assert (g_lr, d_lr, g_betas) == (1e-4, 4e-4, (0.0, 0.9))


def test_tricks_train_and_ema_changes_what_is_evaluated():
    plain, _ = run(seed=1)
    ema, _ = run(seed=1, g_ema=0.9)
    assert ema[-1]["status"] == "ok" and ema[-1]["fid"] != plain[-1]["fid"]
    noisy, _ = run(seed=1, instance_noise=0.1, label_smoothing=0.1)
    assert noisy[-1]["status"] == "ok" and noisy[-1]["fid"] != plain[-1]["fid"]
    cl, _ = run(seed=1, channels_last=True, deterministic=True)
    assert cl[-1]["fid"] == pytest.approx(plain[-1]["fid"], rel=1e-3)  # layout only; same numbers


def test_deterministic_mode_is_restored_after_the_trial():
    assert not torch.are_deterministic_algorithms_enabled()
    run(deterministic=True)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("extra", [
    {}, {"g_ema": 0.9, "d_norm": "sn", "penalty": "gp", "penalty_lambda": 1.0},
    # issue 14's tricks carry state (the historical means) or draw randomness (labels, dropout)
    {"historical_averaging": 0.1, "conditional": True, "d_minibatch": "discrimination", "feature_matching": 0.5,
     "label_noise": True, "label_flip": 0.1, "g_dropout": 0.5, "metrics": "fid+intra_fid"},
    {"g_norm": "vbn", "g_ema": 0.9, "d_minibatch": "stddev", "arch_options": "g_lrelu+d_avgpool"},
])
def test_a_trial_resumed_from_its_state_ends_exactly_like_an_uninterrupted_one(tmp_path, extra):
    cfg = TrialConfig.from_dict({**TINY, "steps": 60, "eval_every": 20, **extra})
    straight = []
    run_trial(cfg, lambda row, state=None: straight.append(row), checkpoints=True)

    saved = {}

    def crash_after_first_eval(row, state=None):
        if state is not None and row["step"] == 20:
            torch.save(state, tmp_path / "state.pt")  # what the Tune adapter does
            saved["row"] = row
            raise RuntimeError("preempted")

    with pytest.raises(RuntimeError, match="preempted"):
        run_trial(cfg, crash_after_first_eval, checkpoints=True)
    resumed = []
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    run_trial(cfg, lambda row, state=None: resumed.append(row), state=state, checkpoints=True)
    assert [r["step"] for r in resumed] == [40, 60] and resumed[0]["restored_from_step"] == 20
    assert [r["fid"] for r in resumed] == [r["fid"] for r in straight[1:]]
    assert straight[0]["restored_from_step"] == 0 and saved["row"]["fid"] == straight[0]["fid"]


def test_wall_time_counts_the_compute_before_a_retry():
    cfg = TrialConfig.from_dict({**TINY, "steps": 40, "eval_every": 20})
    states = []
    run_trial(cfg, lambda row, state=None: states.append(state) if state is not None else None, checkpoints=True)
    state = {**states[0], "wall_time_s": 1000.0}  # as if the first 20 steps had taken 1000 s
    resumed = []
    run_trial(cfg, lambda row, state=None: resumed.append(row), state=state, checkpoints=True)
    assert 1000.0 < resumed[-1]["wall_time_s"] < 1000.0 + 120
