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
    options=) -> (G, D)``. ``resolutions`` lists the image sizes the design supports and
    ``options`` the ablation switches it understands (see layers.ARCH_OPTIONS)."""

    name: str
    build: Callable[..., tuple[nn.Module, nn.Module]]
    resolutions: tuple[int, ...]
    options: tuple[str, ...] = ("eps",)


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
) -> tuple[nn.Module, nn.Module]:
    arch = ARCHITECTURES.get(architecture, "architecture")
    if resolution not in arch.resolutions:
        raise ValueError(
            f"resolution: {architecture} does not support {resolution}; allowed: {list(arch.resolutions)}"
        )
    unknown = sorted(set(options) - set(arch.options))
    if unknown:
        raise ValueError(f"arch_options: {architecture} has no option {unknown[0]!r}; allowed: {list(arch.options)}")
    return arch.build(resolution=resolution, channels=channels, z_dim=z_dim, width=width, d_norm=d_norm,
                      g_norm=g_norm, head=head, head_stats=head_stats, options=frozenset(options))
