"""Datasets, registered by name: the embedded digits and the real datasets read from local
storage (CIFAR-10, STL-10, CelebA-HQ, LSUN bedroom, image folders). Nothing here downloads."""
from study.gan.data import (  # noqa: F401  (register the real sources)
    cifar10,
    digits,  # noqa: F401  (registers "digits")
    images,
    stl10,
)
from study.gan.data.real import register_all
from study.gan.data.registry import DATASETS, Dataset, load_dataset
from study.gan.data.sources import SOURCES, DataOptions

register_all()

__all__ = ["DATASETS", "SOURCES", "DataOptions", "Dataset", "load_dataset"]
