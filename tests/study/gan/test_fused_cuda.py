"""The accelerated steps on a GPU (skipped without CUDA; CI has none; benchmarks/gpu_check.sh runs them).

What the CPU tests cannot reach: capture itself, generators registered with the graphs, the
group's own stream and pool, vmap on CUDA, bf16 autocast. Each hazard of issue 21 has a test:
(1) a finished group's memory is returned without the cyclic collector (three groups in a row
on one worker, reserved memory flat); (2) each group captures on its own stream; (3) a failure
during warm-up or inside the capture restores the stream and continues the same members
eagerly; (4) bf16 groups step one by one. Graph-versus-eager differences are judged against the
eager-versus-eager spread measured in the same test (cuDNN may choose nondeterministic kernels).
"""
import dataclasses
import gc

import pytest
import torch

from study.gan.config import TrialConfig
from study.gan.fused.batched import BatchedSteps
from study.gan.fused.graphs import graph_unsupported
from study.gan.training.loop import run_group
from study.gan.trial import run_trial

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

TINY = dict(width=0.125, z_dim=16, batch_size=16, steps=24, eval_every=8, resolution=8, eval_samples=64,
            sample_grid=0, device="cuda", d_norm="sn", penalty="gp")
RATES = [dict(lr=2e-5, beta1=0.5, beta2=0.999, seed=0, penalty_lambda=1.0),
         dict(lr=5e-5, beta1=0.0, beta2=0.9, seed=1, penalty_lambda=10.0)]


def configs(**kw):
    return [TrialConfig.from_dict({**TINY, **r, **kw}) for r in RATES]


def rows_of(cfgs, states=None):
    out = [[] for _ in cfgs]
    run_group(cfgs, lambda rows, _: [out[i].append(r) for i, r in enumerate(rows) if r is not None], states=states)
    return out


def spread(a, b):
    return max(abs(ra[k] - rb[k]) / max(abs(ra[k]), 1.0)
               for xa, xb in zip(a, b) for ra, rb in zip(xa, xb) for k in ("d_loss", "g_loss", "fid"))


def test_cuda_graphs_are_available_here():
    assert graph_unsupported(torch.device("cuda"), object()) == \
        "the training set is streamed from the host, not resident on the device"


@pytest.mark.parametrize("n_dis", [1, 2])
def test_captured_and_batched_groups_train_as_eager_ones(n_dis):
    """Eager twice (the spread cuDNN allows), then batched and captured, printed for the record."""
    eager = rows_of(configs(step_mode="eager", n_dis=n_dis, g_ema=0.5))
    again = rows_of(configs(step_mode="eager", n_dis=n_dis, g_ema=0.5))
    batched = rows_of(configs(step_mode="batched", n_dis=n_dis, g_ema=0.5))
    graph = rows_of(configs(step_mode="graph", n_dis=n_dis, g_ema=0.5))
    base = spread(eager, again)
    print(f"n_dis {n_dis}: eager-eager {base:.2e}, eager-batched {spread(eager, batched):.2e}, "
          f"eager-graph {spread(eager, graph):.2e}")
    assert all(r[-1]["step_mode_used"] == "graph" for r in graph)
    assert all(r[-1]["step_mode_used"] == "batched" for r in batched)
    assert spread(eager, batched) <= max(1e-4, 10 * base)
    assert spread(eager, graph) <= max(1e-4, 10 * base)


def test_a_single_trial_on_cuda_runs_the_eager_loop_by_default():
    rows = []
    run_trial(configs()[0], lambda r, s=None: rows.append(r))
    assert rows[-1]["step_mode_used"] == "eager" and rows[-1]["status"] == "ok"


def test_a_member_diverging_under_graphs_leaves_and_the_rest_recapture():
    cfgs = configs(step_mode="graph", steps=40, eval_every=20)
    saved = [[] for _ in cfgs]
    run_group(cfgs, lambda rows, states: [saved[i].append(s) for i, s in enumerate(states) if s is not None],
              checkpoints=True)
    states = [s[0] for s in saved]
    first = next(k for k, v in states[1]["g"].items() if v.is_floating_point() and "weight" in k)
    states[1]["g"][first].view(-1)[0] = float("nan")
    rows = rows_of(cfgs, states=states)
    assert rows[1][-1]["status"] == "diverged" and rows[0][-1]["status"] == "ok"
    assert rows[0][-1]["step_mode_used"] == "graph"


def test_a_failed_warm_up_continues_the_same_members_eagerly(monkeypatch):
    calls = {"n": 0}
    original = BatchedSteps.d_step

    def fails_second_time(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected warm-up failure")
        original(self)

    monkeypatch.setattr(BatchedSteps, "d_step", fails_second_time)
    with pytest.warns(UserWarning, match="injected warm-up failure"):
        rows = rows_of(configs(step_mode="graph"))
    eager = rows_of(configs(step_mode="eager"))
    assert all(r[-1]["step_mode_used"] == "eager" for r in rows)
    assert spread(eager, rows) <= 1e-3


def test_a_failure_inside_the_capture_restores_the_stream_and_trains_eagerly(monkeypatch):
    """Hazard 3: a host sync inside capture is illegal; the capture fails in the middle."""
    original = BatchedSteps.g_step

    def syncs_while_capturing(self):
        original(self)
        if torch.cuda.is_current_stream_capturing():
            float(self.g_val.sum())

    monkeypatch.setattr(BatchedSteps, "g_step", syncs_while_capturing)
    default = torch.cuda.current_stream()
    with pytest.warns(UserWarning, match="continue one by one"):
        rows = rows_of(configs(step_mode="graph"))
    assert torch.cuda.current_stream() == default
    assert all(r[-1]["step_mode_used"] == "eager" and r[-1]["status"] == "ok" for r in rows)
    assert not torch.cuda.is_current_stream_capturing()


def test_three_groups_in_a_row_keep_reserved_memory_flat():
    """Hazards 1 and 2: one worker (reuse_actors) runs group after group; with the cyclic
    collector off, each group's graphs, pools and stacks are returned when it ends."""
    gc.collect()
    gc.disable()
    try:
        reserved = []
        for seed in range(3):
            rows_of([dataclasses.replace(c, seed=c.seed + 10 * seed) for c in configs(step_mode="graph")])
            torch.cuda.synchronize()
            reserved.append(torch.cuda.memory_reserved())
        print("reserved after each group (MiB):", [r / 2**20 for r in reserved])
        assert reserved[2] <= reserved[0] * 1.1 + (8 << 20)
    finally:
        gc.enable()


def test_bf16_groups_step_one_by_one_and_train():
    """Hazard 4: under vmap bf16 autocast ran fp32 activations; bf16 groups are not batched."""
    with pytest.warns(UserWarning, match="precision not batched"):
        rows = rows_of(configs(step_mode="graph", precision="bf16", d_norm="bn", penalty="none"))
    assert all(r[-1]["step_mode_used"] == "eager" and r[-1]["status"] == "ok" for r in rows)
