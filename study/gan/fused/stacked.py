"""M copies of one network held as stacked tensors and run together with ``torch.func.vmap``.

Member i of every parameter and buffer is row i of one tensor, so a forward pass of M networks
is one set of batched kernels instead of M sets (Ray's trial-per-process packing stops scaling
because a small GAN step is bound by kernel launches, not FLOPs). Batch-norm running statistics,
spectral norm's u and v and every other buffer are stacked too and updated in place under vmap,
member by member, exactly as the member's own module would update them.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

Tensor = torch.Tensor


class Stacked:
    """``modules`` (one architecture, any weights) as stacked state; call it with (M, ...) inputs."""

    def __init__(self, modules: list[nn.Module], batched: bool = True) -> None:
        self.batched = batched
        self.template = copy.deepcopy(modules[0])  # the structure functional_call runs (its own tensors unused)
        names = [n for n, _ in modules[0].named_parameters()]
        self.trainable = {n: p.requires_grad for n, p in modules[0].named_parameters()}
        members = [dict(m.named_parameters()) for m in modules]
        self.params: dict[str, Tensor] = {
            n: torch.stack([p[n].detach() for p in members]).requires_grad_(self.trainable[n]) for n in names}
        buffers = [dict(m.named_buffers()) for m in modules]
        self.buffers: dict[str, Tensor] = {n: torch.stack([b[n] for b in buffers]) for n in buffers[0]}

    @property
    def size(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def trainable_params(self) -> dict[str, Tensor]:
        return {n: p for n, p in self.params.items() if self.trainable[n]}

    def __call__(self, *inputs: Tensor) -> Tensor:
        """Member i's forward on ``inputs[...][i]``, for every member: one batched call (vmap), or
        with ``batched`` false member by member on views of the stacks (the CPU, where kernels are
        compute-bound and vmap's grouped convolutions are slower than the members' own)."""
        def one(params: dict[str, Tensor], buffers: dict[str, Tensor], *args: Tensor) -> Tensor:
            return functional_call(self.template, (params, buffers), args)

        if self.batched:
            return vmap(one)(self.params, self.buffers, *inputs)
        return torch.stack([one({n: p[i] for n, p in self.params.items()},
                                {n: b[i] for n, b in self.buffers.items()}, *(x[i] for x in inputs))
                            for i in range(self.size)])

    def train(self, mode: bool = True) -> "Stacked":
        self.template.train(mode)
        return self

    # ---- members as ordinary modules -------------------------------------------------------------
    def member_state(self, i: int) -> dict[str, Tensor]:
        """Member i's state dict, keys and order as its own module's ``state_dict()``."""
        state = {n: p[i].detach().clone() for n, p in self.params.items()}
        state.update({n: b[i].clone() for n, b in self.buffers.items()})
        return {k: state[k] for k in self.template.state_dict() if k in state}

    def load_member(self, i: int, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for n, p in self.params.items():
                p[i].copy_(state[n])
            for n, b in self.buffers.items():
                b[i].copy_(state[n])

    def member(self, i: int, into: nn.Module | None = None) -> nn.Module:
        """Member i as a module (``into``, or the template, overwritten)."""
        module = into if into is not None else self.template
        module.load_state_dict(self.member_state(i))
        return module

    def keep(self, index: Tensor) -> None:
        """Keep only the members at ``index`` (a diverged member leaves the group)."""
        with torch.no_grad():
            self.params = {n: p.detach()[index].clone().requires_grad_(self.trainable[n])
                           for n, p in self.params.items()}
            self.buffers = {n: b[index].clone() for n, b in self.buffers.items()}

