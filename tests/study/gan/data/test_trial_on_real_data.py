"""A trial on the fake CIFAR-10: trains from the memory-mapped uint8 set and records the data."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from study.gan.config import ConfigError, TrialConfig
from study.gan.data import DataOptions, load_dataset
from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions
from study.gan.training.build import head_statistics
from study.gan.trial import run_trial
from tests.study.gan.data import fakes


def test_trial_rows_record_the_manifest_split_and_counts(tmp_path, apply):
    apply(fakes.cifar10_dir(tmp_path))
    cfg = TrialConfig.from_dict(dict(dataset="cifar10", channels=3, resolution=32, data_dir=str(tmp_path),
                                     width=0.125, z_dim=16, batch_size=8, steps=4, eval_every=2, eval_samples=8))
    rows = []
    run_trial(cfg, rows.append)
    data = load_dataset("cifar10", 32, 3, DataOptions.from_config(cfg))
    assert [r["step"] for r in rows] == [2, 4] and all(r["status"] == "ok" and math.isfinite(r["fid"]) for r in rows)
    last = rows[-1]
    assert last["data_manifest_sha256"] == data.manifest_sha256 and len(last["data_manifest_sha256"]) == 64
    # CIFAR-10's protocol is 10k test images; the fake test split has 4, so all 4 are used
    assert last["fid_split"] == "test" and last["fid_real_samples"] == 4 and last["fid_samples"] == 8


def test_config_resolves_a_real_datasets_defaults_and_checks_channels(tmp_path):
    cfg = TrialConfig.from_dict(dict(dataset="stl10", channels=3, resolution=48, architecture="sndcgan"))
    assert cfg.crop == "center_crop_resize" and cfg.train_split == "unlabeled"
    explicit = TrialConfig.from_dict(dict(dataset="stl10", channels=3, resolution=48, architecture="sndcgan",
                                          crop="center_crop_resize", train_split="unlabeled"))
    assert explicit.key("s") == cfg.key("s")
    with pytest.raises(ConfigError, match=r"trial.channels: invalid value 1; allowed: 3 for cifar10"):
        TrialConfig.from_dict(dict(dataset="cifar10", channels=1, resolution=32))
    with pytest.raises(ConfigError, match=r"trial.train_split: invalid value 'unlabeled'; allowed: train for cifar10"):
        TrialConfig.from_dict(dict(dataset="cifar10", channels=3, resolution=32, train_split="unlabeled"))
    with pytest.raises(ConfigError, match=r"trial.crop: invalid value 'squash'"):
        TrialConfig.from_dict(dict(dataset="cifar10", channels=3, resolution=32, crop="squash"))
    with pytest.raises(ConfigError, match=r"trial.crop: invalid value 'resize'"):
        TrialConfig.from_dict(dict(dataset="digits", crop="resize"))


def test_evaluator_takes_the_protocols_real_count_and_the_study_may_override(tmp_path, apply):
    apply(fakes.cifar10_dir(tmp_path))
    data = load_dataset("cifar10", 32, 3, DataOptions("cifar10", 32, str(tmp_path)))
    object.__setattr__(data, "fid_real_samples", 3)  # as if the protocol asked for 3 of the 4
    options = EvaluatorOptions(split="test", extractor="digits", resolution=32, channels=3)
    ev = Evaluator(data, options, torch.device("cpu"))
    assert ev.real_samples == 3 and ev.samples == 3 and ev.real.dtype == torch.uint8
    ev2 = Evaluator(data, replace(options, split="train", real_samples=10, samples=20), torch.device("cpu"))
    assert ev2.real_samples == 10 and ev2.samples == 20 and ev2.split == "train"
    assert ev.stats.mu.shape == ev2.stats.mu.shape


def test_head_statistics_are_the_manifests_in_the_heads_range(tmp_path, apply):
    fake = apply(fakes.cifar10_dir(tmp_path))
    data = load_dataset("cifar10", 32, 3, DataOptions("cifar10", 32, str(tmp_path)))
    mean, std = head_statistics(data, -1.0, 1.0)
    train = fake.train.astype(np.float64) / 255
    np.testing.assert_allclose(mean.numpy(), train.mean(axis=(0, 2, 3)) * 2 - 1, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), train.transpose(1, 0, 2, 3).reshape(3, -1).std(axis=1, ddof=1) * 2,
                               atol=1e-5)
