"""The architecture registry: name -> constructor of (generator, discriminator)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from study.gan.models.heads import ChannelStats, Head
from study.gan.normalizers import NORMALIZERS, Normalizer
from study.gan.registry import Registry


@dataclass(frozen=True)
class Architecture:
    """``build(resolution=, channels=, z_dim=, width=, d_norm=, g_norm=, head=, head_stats=,
    options=, init=, upsample=) -> (G, D)``. ``resolutions`` lists the image sizes the design
    supports and ``options`` the ablation switches it understands (see layers.ARCH_OPTIONS).
    ``head``, ``inits`` and ``upsamples``: the reference choice first (what ``auto`` means in a
    trial config), then the alternatives this design implements."""

    name: str
    build: Callable[..., tuple[nn.Module, nn.Module]]
    resolutions: tuple[int, ...]
    options: tuple[str, ...] = ("eps",)
    head: str = "tanh"
    inits: tuple[str, ...] = ("compare_gan",)
    upsamples: tuple[str, ...] = ("transposed",)


ARCHITECTURES: Registry[Architecture] = Registry("architecture")


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """How to build an architecture's G and D: shapes, normalizers, head and tricks (the model
    settings of a TrialConfig). ``arch_options``: the ablation switches (layers.ARCH_OPTIONS);
    ``init`` and ``upsample``: None for the architecture's reference choice; ``head_stats``: the
    per-channel (mean, std) a ``bn_clip`` head starts from; ``classes`` > 0: a conditional G and a
    projection D; ``z_ref``: a VBN generator's reference latents (None: 64 from U[-1, 1], seed 2016)."""

    resolution: int
    channels: int
    z_dim: int
    width: float
    d_norm: Normalizer
    g_norm: Normalizer
    head: Head
    head_stats: ChannelStats | None = field(default=None, compare=False)
    arch_options: frozenset[str] = frozenset()
    init: str | None = None
    upsample: str | None = None
    d_minibatch: str = "none"
    g_dropout: float = 0.0
    classes: int = 0
    z_ref: torch.Tensor | None = field(default=None, compare=False)

    @classmethod
    def from_config(cls, cfg: Any, *, head: Head, head_stats: ChannelStats | None, classes: int = 0,
                    z_ref: torch.Tensor | None = None) -> ModelOptions:
        """``cfg``: a TrialConfig, read by its fields (not imported: study.gan.config imports this package)."""
        return cls(resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim, width=cfg.width,
                   d_norm=NORMALIZERS.get(cfg.d_norm), g_norm=NORMALIZERS.get(cfg.g_norm), head=head,
                   head_stats=head_stats, arch_options=cfg.arch_option_set(), init=cfg.init, upsample=cfg.upsample,
                   d_minibatch=cfg.d_minibatch, g_dropout=cfg.g_dropout, classes=classes, z_ref=z_ref)


def build_models(architecture: str, options: ModelOptions) -> tuple[nn.Module, nn.Module]:
    """G and D of ``architecture``; ``init`` and ``upsample`` default to its reference choice.

    Then the tricks, on any architecture: the ``g_lrelu`` option, ``g_dropout`` (surgery.py), a
    minibatch layer before D's output (``d_minibatch``, minibatch.py), the reference batch of a
    VBN generator (``z_ref``: its latents; default 64 from U[-1, 1], seed 2016), and with
    ``classes`` > 0 conditional batch norm in G and a projection D (conditional.py). A strided
    convolution whose kernel its stride does not divide is warned about (checkerboard)."""
    arch = ARCHITECTURES.get(architecture, "architecture")
    if options.resolution not in arch.resolutions:
        raise ValueError(
            f"resolution: {architecture} does not support {options.resolution}; allowed: {list(arch.resolutions)}"
        )
    unknown = sorted(set(options.arch_options) - set(arch.options))
    if unknown:
        raise ValueError(f"arch_options: {architecture} has no option {unknown[0]!r}; allowed: {list(arch.options)}")
    init, upsample = options.init or arch.inits[0], options.upsample or arch.upsamples[0]
    for name, value, allowed in (("init", init, arch.inits), ("upsample", upsample, arch.upsamples)):
        if value not in allowed:
            raise ValueError(f"{name}: {architecture} has no {name} {value!r}; allowed: {list(allowed)}")
    g, d = arch.build(resolution=options.resolution, channels=options.channels, z_dim=options.z_dim,
                      width=options.width, d_norm=options.d_norm, g_norm=options.g_norm, head=options.head,
                      head_stats=options.head_stats, options=frozenset(options.arch_options), init=init,
                      upsample=upsample)
    return apply_tricks(g, d, options)


VBN_REFERENCE_SIZE, VBN_REFERENCE_SEED = 64, 2016


def apply_tricks(g: nn.Module, d: nn.Module, options: ModelOptions) -> tuple[nn.Module, nn.Module]:
    """The tricks of ``options`` on an architecture's G and D (see ``build_models``)."""
    from study.gan.models.conditional import ConditionalGenerator, ProjectionDiscriminator
    from study.gan.models.layers import normal_init, normed
    from study.gan.models.minibatch import add_minibatch_layer
    from study.gan.models.surgery import checkerboard_warnings, dropout_generator, leaky_generator
    from study.gan.vbn import ReferenceBatch

    def d_output(layer: nn.Module) -> nn.Module:
        return normed(options.d_norm, layer, normal_init(0.02), last=True)

    if "g_lrelu" in options.arch_options:
        leaky_generator(g)
    if options.g_dropout:
        dropout_generator(g, options.g_dropout)
    d = add_minibatch_layer(d, options.d_minibatch, d_output)
    if options.g_norm.name == "vbn":
        z_ref = options.z_ref
        if z_ref is None:
            gen = torch.Generator().manual_seed(VBN_REFERENCE_SEED)
            z_ref = torch.rand(VBN_REFERENCE_SIZE, options.z_dim, generator=gen) * 2 - 1
        g = ReferenceBatch(g, z_ref)
    if options.classes:
        g, d = ConditionalGenerator(g, options.classes), ProjectionDiscriminator(d, options.classes, d_output)
    for message in checkerboard_warnings(g) + checkerboard_warnings(d):
        warnings.warn(message, stacklevel=2)
    return g, d
