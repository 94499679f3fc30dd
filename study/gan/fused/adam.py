"""Adam (Kingma and Ba 2015, Algorithm 1) over stacked members, each with its own lr and betas.

The update is torch.optim.Adam's, term for term (``lerp`` into m, ``addcmul`` into v, bias
corrections 1 - beta^t, denominator sqrt(v) / sqrt(1 - beta2^t) + eps), with lr, beta1, beta2
and t as per-member tensors broadcast over each stacked parameter. Every quantity stays on the
device (no ``.item()``), so a step can be captured in a CUDA graph. Member states convert to
and from torch.optim.Adam's own state dict, so a member's checkpoint is a solo trial's.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

Tensor = torch.Tensor


class StackedAdam:
    def __init__(self, params: dict[str, Tensor], lr: list[float], beta1: list[float], beta2: list[float],
                 eps: float = 1e-8) -> None:
        self.params = params  # name -> stacked leaf tensor (M, ...)
        first = next(iter(params.values()))
        kw = {"device": first.device, "dtype": torch.float64}  # the scalars in double, as Python's floats are
        self.lr, self.beta1, self.beta2 = (torch.tensor(v, **kw) for v in (lr, beta1, beta2))
        self.eps = eps
        self.step_count = torch.zeros(len(lr), **kw)
        self.exp_avg = {n: torch.zeros_like(p) for n, p in params.items()}
        self.exp_avg_sq = {n: torch.zeros_like(p) for n, p in params.items()}

    @torch.no_grad()
    def step(self, grads: dict[str, Tensor], active: Tensor | None = None) -> None:
        """One Adam step of every member; ``grads``: name -> stacked gradient."""
        self.step_count += 1
        t = self.step_count
        b1, b2 = self.beta1, self.beta2
        step_size = (self.lr / (1 - b1**t)).float()
        bc2_sqrt = (1 - b2**t).sqrt().float()
        # 1 - beta in double, then rounded once, as torch rounds Python's 1 - beta2 (rounding beta2
        # first put every fused step 1.3e-5 relative off torch's second moment)
        w1, w2, w2c = (1 - b1).float(), b2.float(), (1 - b2).float()
        for n, p in self.params.items():
            shape = (-1,) + (1,) * (p.dim() - 1)
            g, m, v = grads[n], self.exp_avg[n], self.exp_avg_sq[n]
            m.lerp_(g, w1.view(shape))
            v.mul_(w2.view(shape)).add_(g * g * w2c.view(shape))
            denom = (v.sqrt() / bc2_sqrt.view(shape)).add_(self.eps)
            p.sub_(m / denom * step_size.view(shape))

    def keep(self, index: Tensor, params: dict[str, Tensor]) -> None:
        """Keep only the members at ``index``; ``params``: the stacked parameters after the same selection."""
        self.params = params
        self.lr, self.beta1, self.beta2, self.step_count = (x[index] for x in (
            self.lr, self.beta1, self.beta2, self.step_count))
        self.exp_avg = {n: m[index].clone() for n, m in self.exp_avg.items()}
        self.exp_avg_sq = {n: v[index].clone() for n, v in self.exp_avg_sq.items()}

    # ---- torch.optim.Adam's state dict, per member -------------------------------------------------
    def member_state(self, i: int, module: nn.Module) -> dict[str, Any]:
        """Member i's state as ``torch.optim.Adam(trainable params of module).state_dict()``;
        ``module``'s trainable parameters are the stacked ones, in their order."""
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        opt = torch.optim.Adam([p for _, p in named], lr=float(self.lr[i]),
                               betas=(float(self.beta1[i]), float(self.beta2[i])), eps=self.eps)
        for n, p in named:
            opt.state[p] = {"step": torch.tensor(float(self.step_count[i])),
                            "exp_avg": self.exp_avg[n][i].clone(), "exp_avg_sq": self.exp_avg_sq[n][i].clone()}
        return opt.state_dict()

    def load_member(self, i: int, module: nn.Module, state: dict[str, Any]) -> None:
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        opt = torch.optim.Adam([p for _, p in named])
        opt.load_state_dict(state)
        group = opt.param_groups[0]
        with torch.no_grad():
            self.lr[i], self.beta1[i], self.beta2[i] = group["lr"], group["betas"][0], group["betas"][1]
            for n, p in named:
                s = opt.state.get(p)
                if not s:
                    continue
                self.step_count[i] = float(s["step"])
                self.exp_avg[n][i].copy_(s["exp_avg"])
                self.exp_avg_sq[n][i].copy_(s["exp_avg_sq"])
