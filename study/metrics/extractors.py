"""Feature extractors for Frechet distances, registered by name.

An extractor maps images in [0, 1], shape (N, C, H, W), to (N, d) features. ``digits`` is the
small classifier shipped with the package (fast, CPU); the Inception network joins here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from study.registry import Registry


@dataclass(frozen=True)
class Extractor:
    name: str
    load: Callable[[torch.device], nn.Module]  # returns a module with .features(images)
    batch_size: int


EXTRACTORS: Registry[Extractor] = Registry("feature extractor")


def _load_digits(device: torch.device) -> nn.Module:
    from study.metrics.digits_classifier import load_digits_classifier

    return load_digits_classifier(device)


EXTRACTORS.register("digits")(Extractor("digits", _load_digits, batch_size=1024))


@torch.no_grad()
def extract(extractor: Extractor, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Features of ``images`` in batches, as float64 on the CPU."""
    out = [model.features(images[i : i + extractor.batch_size]).double().cpu()
           for i in range(0, len(images), extractor.batch_size)]
    return torch.cat(out)
