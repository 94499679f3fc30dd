"""CUDA graphs and batched fused groups on a GPU (skipped without CUDA; CI has none).

What the CPU tests cannot reach: the capture itself, generators registered with the graphs,
the side-stream warm-up, vmap on CUDA with bf16 autocast. A captured run must train as the
eager one does (the same kernels and the same random streams, replayed), say ``graph`` in its
rows, and let a member diverge alone.
"""
import copy

import pytest
import torch

from study.gan.config import TrialConfig
from study.gan.fused.graphs import graph_unsupported
from study.gan.fused.group import run_group
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


def close(a, b, tolerance):
    return all(abs(ra[k] - rb[k]) <= tolerance * max(abs(ra[k]), 1.0)
               for ra, rb in zip(a, b) for k in ("d_loss", "g_loss", "fid"))


def test_cuda_graphs_are_available_here():
    assert graph_unsupported(torch.device("cuda"), object()) == \
        "the training set is streamed from the host, not resident on the device"


@pytest.mark.parametrize("n_dis", [1, 2])
def test_a_captured_group_trains_as_the_eager_one(n_dis):
    eager = rows_of(configs(step_mode="eager", n_dis=n_dis, g_ema=0.5))
    graph = rows_of(configs(step_mode="graph", n_dis=n_dis, g_ema=0.5))
    for a, b in zip(eager, graph):
        assert a[-1]["step_mode_used"] == "eager" and b[-1]["step_mode_used"] == "graph"
        assert close(a, b, 1e-5)


def test_a_captured_trial_matches_its_eager_loop_and_bf16_runs():
    cfg = configs()[0]
    alone, captured = [], []
    run_trial(TrialConfig.from_dict({**cfg.to_dict(), "step_mode": "eager"}), lambda r, s=None: alone.append(r))
    run_trial(cfg, lambda r, s=None: captured.append(r))  # auto: a group of one, captured
    assert captured[-1]["step_mode_used"] == "graph" and alone[-1]["step_mode_used"] == "eager"
    assert close(alone, captured, 1e-3)
    bf16 = rows_of(configs(precision="bf16"))
    assert all(r[-1]["status"] == "ok" and r[-1]["step_mode_used"] == "graph" for r in bf16)


def test_a_member_fed_nan_diverges_alone_under_graphs():
    cfgs = configs(steps=8, eval_every=4)
    saved = [[] for _ in cfgs]
    run_group(cfgs, lambda rows, states: [saved[i].append(copy.deepcopy(s)) for i, s in enumerate(states)
                                          if rows[i] is not None and s is not None], checkpoints=True)
    states = [s[0] for s in saved]
    weight = next(k for k, v in states[1]["g"].items() if v.is_floating_point() and "weight" in k)
    states[1]["g"][weight].view(-1)[0] = float("nan")
    long = configs(steps=40, eval_every=4)
    rows = rows_of(long, states=states)
    assert rows[1][-1]["status"] == "diverged" and rows[0][-1]["status"] == "ok"
    assert rows[0][-1]["step"] == 40 and rows[0][-1]["step_mode_used"] == "graph"
