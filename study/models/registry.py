"""The architecture registry: name -> constructor of (generator, discriminator)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from study.models.heads import Head
from study.normalizers import Normalizer
from study.registry import Registry


@dataclass(frozen=True)
class Architecture:
    """``build(resolution, channels, z_dim, width, d_norm, g_norm, head) -> (G, D)``.

    ``resolutions`` lists the image sizes the design supports.
    """

    name: str
    build: Callable[..., tuple[nn.Module, nn.Module]]
    resolutions: tuple[int, ...]


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
) -> tuple[nn.Module, nn.Module]:
    arch = ARCHITECTURES.get(architecture, "architecture")
    if resolution not in arch.resolutions:
        raise ValueError(
            f"resolution: {architecture} does not support {resolution}; allowed: {list(arch.resolutions)}"
        )
    return arch.build(
        resolution=resolution, channels=channels, z_dim=z_dim, width=width,
        d_norm=d_norm, g_norm=g_norm, head=head,
    )
