"""The architecture registry: name -> constructor of (generator, discriminator)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
) -> tuple[nn.Module, nn.Module]:
    """G and D of ``architecture``; ``init`` and ``upsample`` default to its reference choice."""
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
    return arch.build(resolution=resolution, channels=channels, z_dim=z_dim, width=width, d_norm=d_norm,
                      g_norm=g_norm, head=head, head_stats=head_stats, options=frozenset(options), init=init,
                      upsample=upsample)
