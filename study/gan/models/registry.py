"""The architecture registry: name -> constructor of (generator, discriminator)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import warnings

import torch
from torch import nn

from study.gan.models.heads import ChannelStats, Head
from study.gan.normalizers import Normalizer
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


def build_models(
    architecture: str,
    *,
    resolution: int,
    channels: int,
    z_dim: int,
    width: float,
    d_norm: Normalizer,
    g_norm: Normalizer,
    head: Head,
    head_stats: ChannelStats | None = None,
    options: frozenset[str] = frozenset(),
    init: str | None = None,
    upsample: str | None = None,
    d_minibatch: str = "none",
    g_dropout: float = 0.0,
    classes: int = 0,
    z_ref: torch.Tensor | None = None,
) -> tuple[nn.Module, nn.Module]:
    """G and D of ``architecture``; ``init`` and ``upsample`` default to its reference choice.

    Then the tricks, on any architecture: the ``g_lrelu`` option, ``g_dropout`` (surgery.py), a
    minibatch layer before D's output (``d_minibatch``, minibatch.py), the reference batch of a
    VBN generator (``z_ref``: its latents; default 64 from U[-1, 1], seed 2016), and with
    ``classes`` > 0 conditional batch norm in G and a projection D (conditional.py). A strided
    convolution whose kernel its stride does not divide is warned about (checkerboard)."""
    arch = ARCHITECTURES.get(architecture, "architecture")
    if resolution not in arch.resolutions:
        raise ValueError(
            f"resolution: {architecture} does not support {resolution}; allowed: {list(arch.resolutions)}"
        )
    unknown = sorted(set(options) - set(arch.options))
    if unknown:
        raise ValueError(f"arch_options: {architecture} has no option {unknown[0]!r}; allowed: {list(arch.options)}")
    init, upsample = init or arch.inits[0], upsample or arch.upsamples[0]
    for field, value, allowed in (("init", init, arch.inits), ("upsample", upsample, arch.upsamples)):
        if value not in allowed:
            raise ValueError(f"{field}: {architecture} has no {field} {value!r}; allowed: {list(allowed)}")
    g, d = arch.build(resolution=resolution, channels=channels, z_dim=z_dim, width=width, d_norm=d_norm,
                      g_norm=g_norm, head=head, head_stats=head_stats, options=frozenset(options), init=init,
                      upsample=upsample)
    return apply_tricks(g, d, z_dim=z_dim, d_norm=d_norm, g_norm=g_norm, options=frozenset(options),
                        d_minibatch=d_minibatch, g_dropout=g_dropout, classes=classes, z_ref=z_ref)


VBN_REFERENCE_SIZE, VBN_REFERENCE_SEED = 64, 2016


def apply_tricks(g: nn.Module, d: nn.Module, *, z_dim: int, d_norm: Normalizer, g_norm: Normalizer,
                 options: frozenset[str], d_minibatch: str = "none", g_dropout: float = 0.0, classes: int = 0,
                 z_ref: torch.Tensor | None = None) -> tuple[nn.Module, nn.Module]:
    from study.gan.models.conditional import ConditionalGenerator, ProjectionDiscriminator
    from study.gan.models.layers import normal_init, normed
    from study.gan.models.minibatch import add_minibatch_layer
    from study.gan.models.surgery import checkerboard_warnings, dropout_generator, leaky_generator
    from study.gan.vbn import ReferenceBatch

    def d_output(layer: nn.Module) -> nn.Module:
        return normed(d_norm, layer, normal_init(0.02), last=True)

    if "g_lrelu" in options:
        leaky_generator(g)
    if g_dropout:
        dropout_generator(g, g_dropout)
    d = add_minibatch_layer(d, d_minibatch, d_output)
    if g_norm.name == "vbn":
        if z_ref is None:
            gen = torch.Generator().manual_seed(VBN_REFERENCE_SEED)
            z_ref = torch.rand(VBN_REFERENCE_SIZE, z_dim, generator=gen) * 2 - 1
        g = ReferenceBatch(g, z_ref)
    if classes:
        g, d = ConditionalGenerator(g, classes), ProjectionDiscriminator(d, classes, d_output)
    for message in checkerboard_warnings(g) + checkerboard_warnings(d):
        warnings.warn(message, stacklevel=2)
    return g, d
