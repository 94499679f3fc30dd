"""The dataset registry: name -> loader returning train and test image tensors."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from study.gan.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """Images in [0, 1], shape (N, C, H, W), float32, with integer labels where known."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None

    def split(self, name: str) -> torch.Tensor:
        if name == "train":
            return self.train
        if name == "test":
            return self.test
        raise ValueError(f"split: unknown split {name!r}; allowed: train, test")


DATASETS: Registry[Callable[[int, int], Dataset]] = Registry("dataset")


def load_dataset(name: str, resolution: int, channels: int) -> Dataset:
    return DATASETS.get(name, "dataset")(resolution, channels)


def to_range(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Map images in [0, 1] to [low, high] (the generator head's output range)."""
    return images * (high - low) + low
