"""Loading a real dataset in a trial: prepare it if no process has (study/gan/data/prepared.py),
then memory-map its arrays. One loader per entry of the sources registry."""
from __future__ import annotations

import functools

import torch

from study.gan.data.errors import DataError
from study.gan.data.prepared import ensure_prepared
from study.gan.data.registry import DATASETS, Dataset, DatasetEntry, shared_tensor
from study.gan.data.sources import SOURCES, DataOptions


def load_real(name: str, resolution: int, channels: int, options: DataOptions | None = None) -> Dataset:
    source = SOURCES.get(name, "dataset")
    if channels != source.channels:
        raise DataError(name, "channels", f"{channels} channels asked", f"{source.channels} (the dataset's)")
    options = options or DataOptions(name, resolution)
    if options.dataset != name or options.resolution != resolution:
        options = DataOptions(name, resolution, options.data_dir, options.prepared_dir, options.crop,
                              options.train_split)
    prepared = ensure_prepared(options)
    labels = {s: prepared.labels(s) for s in ("train", "test")}
    m = prepared.manifest
    return Dataset(
        name=name, train=shared_tensor(prepared.images("train")), test=shared_tensor(prepared.images("test")),
        train_labels=torch.from_numpy(labels["train"]) if labels["train"] is not None else None,
        test_labels=torch.from_numpy(labels["test"]) if labels["test"] is not None else None,
        manifest_sha256=prepared.manifest_sha256,
        channel_stats=(torch.tensor(m["channel_mean"], dtype=torch.float32),
                       torch.tensor(m["channel_std"], dtype=torch.float32)),
        fid_real_samples=source.fid_real_samples)


def register_all() -> None:
    for name in SOURCES.names():
        if name not in DATASETS:
            source = SOURCES.get(name)
            default = ("",) if source.train_splits[0] in source.labelled_splits else ()  # "": the default split
            DATASETS.register(name)(DatasetEntry(functools.partial(load_real, name),
                                                 labelled_splits=default + source.labelled_splits))
