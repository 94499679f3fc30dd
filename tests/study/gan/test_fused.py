"""The batched acceleration's parts (study/gan/fused/): grouping and the stacked Adam.

The members' equivalence with their trials, eager and batched, is tested with the loop
(tests/study/gan/training/test_loop.py); CUDA graphs in test_fused_cuda.py.
"""
import math

import torch

from study.gan.config import TrialConfig
from study.gan.fused.adam import StackedAdam
from study.gan.fused.grouping import fusion_key, groups, unbatchable


def test_grouping_by_model_and_size_and_what_batches():
    base = TrialConfig().validated()

    def with_(**kw):
        return base.__class__(**{**base.__dict__, **kw})

    cfgs = [with_(lr=1e-4), with_(lr=2e-4, seed=3), with_(loss="wgan"), with_(lr=3e-4, beta1=0.1),
            with_(g_dropout=0.5), with_(penalty_lambda=0.0, lr=5e-5)]
    assert fusion_key(cfgs[0]) == fusion_key(cfgs[1]) != fusion_key(cfgs[2])
    assert "g_dropout" in unbatchable(cfgs[4]) and unbatchable(cfgs[0]) == ""
    assert "channels_last" in unbatchable(with_(channels_last=True))
    assert "precision" in unbatchable(with_(precision="bf16"))  # hazard 4: bf16 under vmap runs fp32
    assert groups(cfgs, size=2) == [[0, 1], [2], [3, 5], [4]]
    assert groups(cfgs, size=10) == [[0, 1, 3, 5], [2], [4]]
    assert groups(cfgs, size=1) == [[i] for i in range(6)]


def test_stacked_adam_is_torch_adam_per_member():
    """Two members with their own lr and betas against torch.optim.Adam, and a state round trip."""
    torch.manual_seed(0)
    rates = [(1e-3, 0.5, 0.999), (2e-4, 0.0, 0.9)]
    params = [torch.randn(5, 3, requires_grad=True) for _ in rates]
    opts = [torch.optim.Adam([p], lr=lr, betas=(b1, b2)) for p, (lr, b1, b2) in zip(params, rates)]
    stacked = torch.stack([p.detach() for p in params]).requires_grad_(True)
    adam = StackedAdam({"weight": stacked}, *map(list, zip(*rates)))
    for _ in range(6):
        grads = torch.randn(2, 5, 3)
        for p, opt, g in zip(params, opts, grads):
            p.grad = g.clone()
            opt.step()
        adam.step({"weight": grads})
    assert torch.allclose(torch.stack([p.detach() for p in params]), stacked.detach(), rtol=0, atol=1e-7)
    module = torch.nn.Linear(3, 5, bias=False)
    state = adam.member_state(1, module)
    assert state["param_groups"][0]["lr"] == 2e-4 and state["param_groups"][0]["betas"] == (0.0, 0.9)
    ref = opts[1].state_dict()["state"][0]
    assert float(state["state"][0]["step"]) == 6.0
    # a few ulps; 1 - beta2 rounded first was 1.3e-5 off
    assert torch.allclose(state["state"][0]["exp_avg_sq"], ref["exp_avg_sq"], rtol=1e-6, atol=0)
    other = StackedAdam({"weight": stacked.detach().clone()}, [1.0, 1.0], [0.9, 0.9], [0.99, 0.99])
    other.load_member(0, module, state)
    assert math.isclose(float(other.lr[0]), 2e-4) and float(other.step_count[0]) == 6.0
    assert torch.equal(other.exp_avg["weight"][0], state["state"][0]["exp_avg"])
