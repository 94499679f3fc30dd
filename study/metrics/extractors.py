"""Feature extractors for Frechet distances, registered by name.

An extractor's module maps images in [0, 1], shape (N, C, H, W), to (N, d) features with
``.features(images)``, and to class logits with ``.logits(images)`` where it has a classifier
head (needed for the Inception Score).

- ``digits``: the small classifier shipped with the package (64-d features, 10 logits); fast,
  CPU, for studies on the embedded digits.
- ``inception``: Inception-v3 with the TF 2015-12-05 weights, pool3 2048-d features, the input
  prepared as in study.metrics.preprocess; the weights file is sha256-checked
  (study.metrics.inception_weights). The fid-helper TorchScript carries no logits, so the
  Inception Score is not available with it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from study.registry import Registry


@dataclass(frozen=True)
class Extractor:
    name: str
    load: Callable[[torch.device, str], nn.Module]  # (device, resize mode) -> module
    batch_size: int


EXTRACTORS: Registry[Extractor] = Registry("feature extractor")


def _load_digits(device: torch.device, resize: str) -> nn.Module:
    from study.metrics.digits_classifier import load_digits_classifier, weights_sha256

    model = load_digits_classifier(device)
    model.identity = weights_sha256()
    return model


class InceptionPool3(nn.Module):
    """The TorchScript pool3 network behind the reference preprocessing."""

    has_logits = False

    def __init__(self, net: torch.jit.ScriptModule, resize: str) -> None:
        super().__init__()
        self.net, self.resize = net, resize

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        from study.metrics.preprocess import inception_input

        return self.net(inception_input(images, self.resize))


@functools.lru_cache(maxsize=4)
def _inception_net(path: str, device: str) -> torch.jit.ScriptModule:
    return torch.jit.load(path, map_location=device).eval()


def _load_inception(device: torch.device, resize: str) -> nn.Module:
    from study.metrics import inception_weights

    path, known = inception_weights.resolve()  # sha256 checked before loading
    model = InceptionPool3(_inception_net(str(path), str(device)), resize)
    model.identity = known.sha256
    return model


EXTRACTORS.register("digits")(Extractor("digits", _load_digits, batch_size=1024))
EXTRACTORS.register("inception")(Extractor("inception", _load_inception, batch_size=50))


@torch.no_grad()
def extract(extractor: Extractor, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Features of ``images`` in batches, as float64 on the CPU."""
    out = [model.features(images[i : i + extractor.batch_size]).double().cpu()
           for i in range(0, len(images), extractor.batch_size)]
    return torch.cat(out)


@torch.no_grad()
def extract_logits(extractor: Extractor, model: nn.Module, images: torch.Tensor) -> torch.Tensor | None:
    if not getattr(model, "has_logits", True):
        return None
    return torch.cat([model(images[i : i + extractor.batch_size]).double().cpu()
                      for i in range(0, len(images), extractor.batch_size)])
