"""Datasets, registered by name. Nothing here downloads anything."""
from study.gan.data.registry import DATASETS, Dataset, load_dataset
from study.gan.data import digits  # noqa: F401  (registers "digits")

__all__ = ["DATASETS", "Dataset", "load_dataset"]
