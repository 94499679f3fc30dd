"""CUDA graphs of a fused group's training step (issue 16 item 1).

A small GAN step is bound by kernel launches, not FLOPs (SNDCGAN at 32 px on an H100: 1,047
launches and 26.7 ms of CPU time per step against 5.7 ms of GPU time). Captured once and
replayed, the D step and the G step cost one launch each. Two graphs, not one, so that any
critic schedule (n_dis, the iWGAN warm-up and every-500th bursts) is a number of D replays
followed by a G replay. Everything a step touches already lives on the device: batches are
gathered from the resident training set, latents and penalty points come from the members'
own CUDA generators (registered with each graph, so every replay draws fresh numbers from
the member's stream exactly as eager steps would), Adam's rates, betas and step counts are
tensors (study/gan/fused/adam.py), batch-norm statistics and spectral norm's u and v are
updated in place, and divergence flags are read at the host check, not per step.

Capture follows torch's recipe: a few eager iterations on a side stream first (autograd and
the allocator settle), then each step captured in its own memory pool. Whatever fails (an op
that cannot be captured, a torch without graph-safe custom generators, streamed batches) is
reported as a reason and the group goes on eagerly: a capture never crashes a trial.
"""
from __future__ import annotations

from typing import Callable

import torch

from study.gan.data.loader import ResidentBatches

WARMUP_ITERATIONS = 3  # eager G iterations (with their D steps) on a side stream before capture


def graph_unsupported(device: torch.device, train: object) -> str:
    """Why the step cannot be captured here ("" when it can be tried)."""
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device, not {device.type}"
    if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return f"torch {torch.__version__} cannot replay custom generators in a CUDA graph"
    if not isinstance(train, ResidentBatches):
        return "the training set is streamed from the host, not resident on the device"
    return ""


class StepGraphs:
    """The D step and the G step of a group, eager until captured, then replayed."""

    def __init__(self, d_step: Callable[[], None], g_step: Callable[[], None]) -> None:
        self.d_step, self.g_step = d_step, g_step
        self.side = torch.cuda.Stream()
        self.graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph] | None = None
        self.warm = 0  # eager iterations since the stacks last changed

    def reset(self) -> None:
        """The stacks changed (a member left): capture again after a new warm-up."""
        self.graphs, self.warm = None, 0

    def iteration(self, n_critic: int) -> None:
        """``n_critic`` D steps and one G step: replayed once captured, else eager on the side stream."""
        if self.graphs is not None:
            d, g = self.graphs
            for _ in range(n_critic):
                d.replay()
            g.replay()
            return
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            for _ in range(n_critic):
                self.d_step()
            self.g_step()
        torch.cuda.current_stream().wait_stream(self.side)
        self.warm += 1

    def ready(self) -> bool:
        return self.graphs is None and self.warm >= WARMUP_ITERATIONS

    def capture(self, generators: list[torch.Generator]) -> None:
        """Record one D step and one G step (recorded only: nothing trains during capture).
        Raises on failure, with the generators' states as they were."""
        saved = [g.get_state() for g in generators]
        try:
            torch.cuda.synchronize()
            graphs = []
            for step in (self.d_step, self.g_step):
                graph = torch.cuda.CUDAGraph()
                for gen in generators:
                    graph.register_generator_state(gen)
                with torch.cuda.graph(graph):
                    step()
                graphs.append(graph)
            torch.cuda.synchronize()
        except BaseException:
            for gen, state in zip(generators, saved):
                gen.set_state(state)
            raise
        self.graphs = (graphs[0], graphs[1])
