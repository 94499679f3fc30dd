"""Datasets, registered by name. Nothing here downloads anything."""
from study.data.registry import DATASETS, Dataset, load_dataset
from study.data import digits  # noqa: F401  (registers "digits")

__all__ = ["DATASETS", "Dataset", "load_dataset"]
