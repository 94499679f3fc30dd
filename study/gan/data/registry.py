"""The dataset registry: name -> loader returning train and test images.

``digits`` renders float images in [0, 1]; the real datasets (study/gan/data/sources.py) hold
uint8 images, memory-mapped from their prepared arrays, converted to float per batch
(``as_unit``). Either way the shape is (N, C, H, W).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from study.gan.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """Images (N, C, H, W): float32 in [0, 1], or uint8 in 0..255; integer labels where known."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    manifest_sha256: str = ""  # the prepared set's manifest (real datasets)
    channel_stats: tuple[torch.Tensor, torch.Tensor] | None = None  # train mean, std in [0, 1] (recorded)
    fid_real_samples: int = 0  # the papers' real sample count for FID (0: the whole split)

    def split(self, name: str) -> torch.Tensor:
        if name == "train":
            return self.train
        if name == "test":
            return self.test
        raise ValueError(f"split: unknown split {name!r}; allowed: train, test")


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its loader and what the trial config checks without loading it."""

    load: Callable[..., Dataset]  # (resolution, channels, options) -> Dataset
    # the train_split values whose training images carry class labels (for conditional GANs);
    # "": the dataset's default split (digits: its one fixed split)
    labelled_splits: tuple[str, ...] = ()


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def load_dataset(name: str, resolution: int, channels: int, options: Any = None) -> Dataset:
    """``options``: a sources.DataOptions for the real datasets (where the data lies, the crop)."""
    return DATASETS.get(name, "dataset").load(resolution, channels, options)


def as_unit(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as float32: uint8 / 255, float passed through."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


def to_range(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Map images in [0, 1] to [low, high] (the generator head's output range)."""
    return images * (high - low) + low


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor over a read-only memory map without copying (never written to)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)
