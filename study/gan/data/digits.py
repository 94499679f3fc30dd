"""The handwritten digits scikit-learn ships (1,797 8x8 images, values 0..16), offline.

Rendered at the resolution a study asks for by bilinear upsampling of the 8x8 grid, scaled to
[0, 1], grayscale tiled to 3 channels when asked. The train/test split is fixed: a NumPy
permutation with seed 0 (independent of scikit-learn's version) puts 360 images (20%) in test.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from study.gan.data.registry import DATASETS, Dataset, DatasetEntry

TEST_SIZE = 360
SPLIT_SEED = 0


DIGITS_FILE = ("datasets", "data", "digits.csv.gz")  # inside the scikit-learn package


def _digits_file() -> Path | None:
    """The CSV scikit-learn ships, found without importing scikit-learn (``sklearn.datasets``
    takes ~1.3 s to import, paid again by every new trial process)."""
    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root).joinpath(*DIGITS_FILE)
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    path = _digits_file()
    if path is None:  # a scikit-learn that moved its data: its own loader reads it
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, target = bunch.data, bunch.target
    else:  # the format load_digits reads: 64 pixel columns then the label, comma-separated
        table = np.loadtxt(path, delimiter=",")
        pixels, target = table[:, :-1], table[:, -1]
    images = pixels.reshape(-1, 8, 8).astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    return images, target.astype(np.int64)


def split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.RandomState(SPLIT_SEED).permutation(n)
    return np.sort(perm[TEST_SIZE:]), np.sort(perm[:TEST_SIZE])


def render(images: np.ndarray, resolution: int, channels: int) -> torch.Tensor:
    if channels not in (1, 3):
        raise ValueError(f"channels: digits renders 1 or 3 channels, got {channels}")
    if resolution < 8:
        raise ValueError(f"resolution: digits renders at >= 8 pixels, got {resolution}")
    x = torch.from_numpy(images).unsqueeze(1)
    if resolution != 8:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    x = x.clamp_(0.0, 1.0)
    return x.repeat(1, channels, 1, 1).contiguous()


def load_digits_dataset(resolution: int, channels: int, options: object = None) -> Dataset:
    images, labels = _raw()
    train_idx, test_idx = split_indices(len(images))
    return Dataset(
        name="digits",
        train=render(images[train_idx], resolution, channels),
        test=render(images[test_idx], resolution, channels),
        train_labels=torch.from_numpy(labels[train_idx]),
        test_labels=torch.from_numpy(labels[test_idx]),
    )


DATASETS.register("digits")(DatasetEntry(load_digits_dataset, labelled_splits=("",)))  # its one split, labelled
