"""Datasets, registered by name: the embedded digits and the real datasets read from local
storage (CIFAR-10, STL-10, CelebA-HQ, LSUN bedroom, image folders). Nothing here downloads."""
from study.gan.data.registry import DATASETS, Dataset, load_dataset
from study.gan.data import digits  # noqa: F401  (registers "digits")
from study.gan.data import cifar10, images, stl10  # noqa: F401  (register the real sources)
from study.gan.data.real import register_all
from study.gan.data.sources import SOURCES, DataOptions

register_all()

__all__ = ["DATASETS", "SOURCES", "DataOptions", "Dataset", "load_dataset"]
