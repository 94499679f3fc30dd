"""Frechet distance of a generator against a real split, on fixed evaluation latents.

Real-data statistics are computed once per (dataset, split, resolution, channels, extractor)
in this process and reused by every evaluation and every trial that runs here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from study.data.registry import Dataset
from study.metrics.extractors import EXTRACTORS, Extractor, extract
from study.metrics.frechet import feature_statistics, frechet_distance

EVAL_LATENT_SEED = 2019  # the same latents for every trial, so FIDs are comparable


@dataclass(frozen=True)
class FidResult:
    fid: float
    extractor: str
    samples: int
    split: str


# Real statistics by (dataset, split, resolution, channels, extractor, device): a per-process
# cache, so that every evaluation and every trial an actor runs computes them once.
_REAL_STATS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def real_statistics(key: tuple, images: torch.Tensor, extractor: Extractor, model: nn.Module,
                    device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    if key not in _REAL_STATS:
        _REAL_STATS[key] = feature_statistics(extract(extractor, model, images.to(device)).numpy())
    return _REAL_STATS[key]


class FidEvaluator:
    """FID of ``generator`` samples (mapped from the head's range to [0, 1]) against a split."""

    def __init__(self, dataset: Dataset, split: str, extractor: str, device: torch.device,
                 resolution: int, channels: int, samples: int = 0) -> None:
        self.extractor: Extractor = EXTRACTORS.get(extractor, "feature_extractor")
        self.split = split
        real = dataset.split(split)
        self.samples = samples or len(real)
        self.model = self.extractor.load(device)
        self.device = device
        key = (dataset.name, split, resolution, channels, extractor, str(device))
        self.mu, self.sigma = real_statistics(key, real, self.extractor, self.model, device)

    def latents(self, z_dim: int, z_dist: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(EVAL_LATENT_SEED)
        shape = (self.samples, z_dim)
        z = torch.randn(shape, generator=gen) if z_dist == "normal" else torch.rand(shape, generator=gen) * 2 - 1
        return z.to(self.device)

    @torch.no_grad()
    def __call__(self, generator: nn.Module, latents: torch.Tensor, low: float, high: float,
                 batch_size: int = 500) -> FidResult:
        was_training = generator.training
        generator.eval()
        try:
            images = torch.cat([generator(latents[i : i + batch_size]) for i in range(0, len(latents), batch_size)])
        finally:
            generator.train(was_training)
        images = ((images.float() - low) / (high - low)).clamp(0.0, 1.0)
        if not torch.isfinite(images).all():
            return FidResult(float("nan"), self.extractor.name, self.samples, self.split)
        feats = extract(self.extractor, self.model, images).numpy()
        mu, sigma = feature_statistics(feats)
        return FidResult(frechet_distance(mu, sigma, self.mu, self.sigma), self.extractor.name,
                         self.samples, self.split)
