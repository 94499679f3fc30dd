"""Registry of real datasets in their distributed form (read from local or mounted storage only).

A ``Source`` knows where its files lie under a data directory (``locate``: cheap checks of
presence, sizes and checksums) and how to read them into uint8 (N, 3, R, R) splits (``plan``).
study/gan/data/prepared.py turns a plan into the prepared arrays every trial memory-maps.
Nothing here downloads anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from study.gan.registry import Registry

DATA_DIR_ENV = "GAN_STUDY_DATA"  # default of the data_dir trial setting
PREPARED_DIR_ENV = "GAN_STUDY_PREPARED"  # default of prepared_dir (else <data_dir>/prepared)
SPLIT_SEED = 0  # the seeded permutation that fixes the test split of image collections


@dataclass(frozen=True)
class DataOptions:
    """Where a dataset lies and how it is cut: the data settings of a TrialConfig."""

    dataset: str
    resolution: int
    data_dir: str = ""  # "" : $GAN_STUDY_DATA
    prepared_dir: str = ""  # "" : $GAN_STUDY_PREPARED, else <data_dir>/prepared (a folder: beside it)
    crop: str = ""  # "" : the source's default policy
    train_split: str = ""  # "" : the source's default training split

    @classmethod
    def from_config(cls, cfg) -> "DataOptions":
        return cls(cfg.dataset, cfg.resolution, cfg.data_dir, cfg.prepared_dir, cfg.crop, cfg.train_split)

    def root(self) -> Path:
        text = self.data_dir or os.environ.get(DATA_DIR_ENV, "")
        if not text:
            from study.gan.data.errors import DataError

            raise DataError(self.dataset, "data_dir", "no data directory given",
                            f"trial.data_dir or the environment variable {DATA_DIR_ENV} to name it")
        return Path(text).expanduser()


@dataclass(frozen=True)
class Located:
    """A source's files found under a data directory."""

    root: Path  # the dataset's own directory or archive
    files: tuple[Path, ...]  # what the manifest checksums (for image folders: every image)
    kind: str  # "dir", "tar.gz", "zip", "lmdb", ...


@dataclass
class Plan:
    """What preparing writes: image counts and labels per split, and ``fill(arrays)`` that writes
    every image into the preallocated uint8 (n, 3, R, R) arrays, one per split."""

    counts: dict[str, int]
    fill: Callable[[dict[str, np.ndarray]], None]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    split_info: dict[str, object] = field(default_factory=dict)  # how the splits were made (manifest)
    test_index: np.ndarray | None = None  # source positions of the test images (image collections)


@dataclass(frozen=True)
class Source:
    name: str
    locate: Callable[[Path], Located]
    plan: Callable[[Located, DataOptions, str, str], Plan]  # (located, options, crop, train_split)
    default_crop: str
    train_splits: tuple[str, ...] = ("train",)  # allowed training splits, the default first
    labelled_splits: tuple[str, ...] = ()  # the training splits whose images carry class labels
    fid_real_samples: int = 0  # the papers' real sample count on the test split (0: all of it)
    channels: int = 3
    description: str = ""  # where it comes from, for the README and errors

    def crop_of(self, options: DataOptions) -> str:
        return options.crop or self.default_crop

    def train_split_of(self, options: DataOptions) -> str:
        return options.train_split or self.train_splits[0]


SOURCES: Registry[Source] = Registry("dataset")


def split_permutation(n: int, test_size: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """Sorted source positions of the ``test_size`` test images: the first ones of a seeded
    NumPy permutation (PCG64, ``default_rng(seed)``), independent of file system order."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:test_size])
