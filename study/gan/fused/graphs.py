"""CUDA graphs of a group's batched training step (issue 16 item 1; hazards fixed in issue 21).

A small GAN step is bound by kernel launches, not FLOPs (SNDCGAN at 32 px on an H100: 1,047
launches and 26.7 ms of CPU time per step against 5.7 ms of GPU time). Captured once and
replayed, the D step and the G step cost one launch each. Two graphs, not one, so that any
critic schedule (n_dis, the iWGAN warm-up and every-500th bursts) is a number of D replays
followed by a G replay. Everything a step touches lives on the device: batches are gathered from
the resident training set, latents and penalty points come from the members' own CUDA
generators (registered with each graph), Adam's scalars are tensors (study/gan/fused/adam.py).

Each group has its own stream, on which it warms up (``WARMUP_ITERATIONS`` eager iterations)
and captures, and its own memory pool: nothing of one group's capture lands in another's. The
warm-up and the capture run under the executor's guard: a failure restores the current stream,
releases the partial graphs and their pool, puts the members back as they were before the
failed iteration, and the loop continues them eagerly. ``close`` releases the graphs when the
group ends; no object refers back to the loop, so nothing waits for the cyclic collector.

Unverified on a GPU until tests/study/gan/test_fused_cuda.py has passed on one
(benchmarks/gpu_check.sh); ``step_mode: auto`` does not choose it.
"""
from __future__ import annotations

import torch

from study.gan.data.loader import ResidentBatches
from study.gan.fused.batched import BatchedSteps
from study.gan.training.build import Shared
from study.gan.training.member import Member

Tensor = torch.Tensor
WARMUP_ITERATIONS = 3  # eager iterations on the group's stream before capture


def graph_unsupported(device: torch.device, train: object) -> str:
    """Why the step cannot be captured here ("" when it can be tried)."""
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device, not {device.type}"
    if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return f"torch {torch.__version__} cannot replay custom generators in a CUDA graph"
    if not isinstance(train, ResidentBatches):
        return "the training set is streamed from the host, not resident on the device"
    return ""


class GraphSteps(BatchedSteps):
    """The batched D and G steps, warmed up on the group's stream, then captured and replayed."""

    mode = "graph"
    GUARDED = WARMUP_ITERATIONS + 1  # the warm-up iterations and the capture

    def __init__(self, shared: Shared, live: list[Member]) -> None:
        super().__init__(shared, live)
        self.stream = torch.cuda.Stream(shared.device)
        self.graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph] | None = None

    def iteration(self, n_critic: int, noise: float) -> Tensor:
        if self.graphs is None and self.trusted >= WARMUP_ITERATIONS:
            self._guarded(self._capture)
        if self.graphs is None:
            self._guarded(lambda: self._on_stream(lambda: self._steps(n_critic)))
        else:
            d, g = self.graphs
            for _ in range(n_critic):
                d.replay()
            g.replay()
        if self.ema is not None:
            self.ema_count += 1
        return torch.isfinite(self.d_val) & torch.isfinite(self.g_val)

    def _on_stream(self, work) -> None:
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            work()
        torch.cuda.current_stream().wait_stream(self.stream)

    def _capture(self) -> None:
        """Record one D step and one G step on the group's stream into one private pool
        (recorded only: nothing trains). On failure: the caller's stream back, nothing kept."""
        before = torch.cuda.current_stream()
        graphs: list[torch.cuda.CUDAGraph] = []
        try:
            torch.cuda.synchronize()
            pool = torch.cuda.graph_pool_handle()
            for step in (self.d_step, self.g_step):
                graph = torch.cuda.CUDAGraph()
                for m in self.live:
                    graph.register_generator_state(m.gen)
                graphs.append(graph)
                with torch.cuda.graph(graph, pool=pool, stream=self.stream):
                    step()
            torch.cuda.synchronize()
        except BaseException:
            torch.cuda.set_stream(before)
            _release(graphs)
            raise
        self.graphs = (graphs[0], graphs[1])

    def drop(self, keep: list[int]) -> None:
        super().drop(keep)
        self._reset()  # the captured steps read the old stacks: warm up and capture again
        self.trusted = 0

    def _reset(self) -> None:
        if self.graphs is not None:
            _release(list(self.graphs))
        self.graphs = None

    def close(self) -> None:
        self._reset()
        super().close()


def _release(graphs: list) -> None:
    for graph in graphs:
        graph.reset()
    graphs.clear()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
