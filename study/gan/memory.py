"""How much memory one trial needs, estimated without allocating it (PyTorch's meta device).

G and D are built on the meta device (shapes only, no storage) and run once on a meta batch of
one, counting every leaf module's output: that gives the parameters and the activations per
example exactly for the trial's architecture, width, z_dim, resolution and tricks. Training
holds the weights, their gradients and Adam's two moments (16 bytes a parameter, fp32), and
for backward the activations of a generator batch and of D on a real and a fake batch, twice
(outputs and their gradients). Evaluation holds the feature rows of the generated and real
samples (float64). It is an estimate (allocator slack, cuDNN workspaces and the data set are
left out): it is used to refuse trials that cannot fit any node, not to pack them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

BYTES = 4  # fp32
FEATURE_BYTES = 8  # evaluation statistics are float64
DEFAULT_FEATURES = 2048  # Inception pool3, the largest extractor's feature size


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int  # G and D, counted
    activation_bytes: int  # one training step's activations and their gradients
    state_bytes: int  # weights, gradients, Adam's moments (and G's EMA)
    feature_bytes: int  # evaluation: the feature rows FID compares

    @property
    def total(self) -> int:
        return self.activation_bytes + self.state_bytes + self.feature_bytes

    def describe(self) -> str:
        return (f"{self.total / 2**30:.1f} GiB ({self.parameters:,} parameters: {self.state_bytes / 2**30:.1f} GiB "
                f"with gradients and Adam; activations {self.activation_bytes / 2**30:.1f} GiB; "
                f"evaluation features {self.feature_bytes / 2**30:.1f} GiB)")


def _leaf_outputs(module: torch.nn.Module, run) -> int:
    """Elements of every leaf module's output while ``run()`` runs."""
    total = [0]

    def hook(_m, _i, out) -> None:
        total[0] += sum(t.numel() for t in (out if isinstance(out, tuple) else (out,)) if isinstance(t, torch.Tensor))

    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def _outputs(g, d, z_dim: int, classes: int, n: int) -> tuple[int, int]:
    """Leaf outputs of G and of D on a batch of ``n`` (meta tensors). The difference of two batch
    sizes (2 and 4: batch norm needs 2) is the per-example part: a parametrization's weight is
    computed once per call, whatever the batch."""
    z, y, fake = torch.empty(n, z_dim), torch.zeros(n, dtype=torch.long), [None]
    in_g = _leaf_outputs(g, lambda: fake.__setitem__(0, g(z, y) if classes else g(z)))
    return in_g, _leaf_outputs(d, lambda: d(fake[0], y) if classes else d(fake[0]))


def estimate(cfg) -> MemoryEstimate:
    """The memory of one trial of ``cfg`` (a validated TrialConfig)."""
    from study.gan.models import HEADS
    from study.gan.models.registry import ModelOptions, build_models

    classes = 10 if cfg.conditional else 0
    with torch.device("meta"):
        g, d = build_models(cfg.architecture, ModelOptions.from_config(cfg, head=HEADS.get(cfg.g_head),
                                                                        head_stats=None, classes=classes))
        per_g, per_d = ((b - a) // 2 for a, b in zip(_outputs(g, d, cfg.z_dim, classes, 2),
                                                     _outputs(g, d, cfg.z_dim, classes, 4)))
    params_g = sum(p.numel() for p in g.parameters())
    params = params_g + sum(p.numel() for p in d.parameters())
    activations = 2 * BYTES * cfg.batch_size * (per_g + 2 * per_d)
    state = 4 * BYTES * params + (BYTES * params_g if cfg.g_ema else 0)
    samples = max(cfg.eval_samples, 10_000) + max(cfg.eval_real_samples, 10_000)
    return MemoryEstimate(params, activations, state, FEATURE_BYTES * samples * DEFAULT_FEATURES)


OOM_TEXTS = ("out of memory", "can't allocate memory", "defaultcpuallocator")


def out_of_memory(error: BaseException) -> str | None:
    """One line for an allocation that failed (CUDA's OutOfMemoryError, the CPU allocator's
    RuntimeError, MemoryError), for a trial's row and the driver's output; None for other errors."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)) or (
            isinstance(error, RuntimeError) and any(t in text.lower() for t in OOM_TEXTS)):
        return f"out of memory ({type(error).__name__}: {text[:300]}); lower trial.batch_size, z_dim or width"
    return None
