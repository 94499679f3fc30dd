"""Conditional GANs end to end: labelled batches, conditional sampling for evaluation and intra-FID."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from study.gan.config import TrialConfig
from study.gan.data import load_dataset
from study.gan.metrics.digits_classifier import load_digits_classifier
from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions, intra_fid
from study.gan.models import HEADS, ModelOptions, build_models
from study.gan.normalizers import NORMALIZERS
from study.gan.trial import run_trial


def test_evaluation_samples_classes_in_the_real_splits_proportion():
    data = load_dataset("digits", 16, 1)
    options = EvaluatorOptions(split="test", extractor="digits", resolution=16, channels=1, conditional=True)
    ev = Evaluator(data, options, torch.device("cpu"))
    assert torch.equal(ev.eval_labels, data.test_labels[: len(ev.real)].long())  # as many as real: the split's own
    ev = Evaluator(data, replace(options, samples=1000), torch.device("cpu"))
    real = np.bincount(data.test_labels.numpy(), minlength=10) / len(data.test_labels)
    fake = np.bincount(ev.eval_labels.numpy(), minlength=10) / 1000
    assert np.abs(real - fake).max() < 0.01


def test_intra_fid_is_the_mean_of_per_class_frechet_distances():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 3))
    labels = np.repeat([0, 1], 100)
    fake = real.copy()
    fake[labels == 1] += 1.0  # class 1 shifted by 1 in each of 3 dims: FID 3, class 0: 0
    assert intra_fid(fake, labels, real, labels) == pytest.approx(1.5, abs=1e-6)


@pytest.mark.slow
def test_conditional_samples_of_class_k_are_classified_as_k():
    """After a short training (150 G steps; 0.68 measured), the shipped digits classifier recognises the asked
    class far more often than chance (0.1)."""
    steps = 150
    cfg = TrialConfig.from_dict(dict(resolution=16, width=0.25, z_dim=16, batch_size=32, steps=steps,
                                     eval_every=steps - 1, conditional=True, lr=2e-3, eval_samples=64, seed=0))
    states = []
    run_trial(cfg, lambda row, state=None: states.append(state) if state else None, checkpoints=True)
    g, _ = build_models("dcgan", ModelOptions(resolution=16, channels=1, z_dim=16, width=0.25,
                                              d_norm=NORMALIZERS.get("none"), g_norm=NORMALIZERS.get("bn"),
                                              head=HEADS.get(cfg.g_head), classes=10))
    g.load_state_dict(states[-1]["g"])
    g.eval()
    y = torch.arange(10).repeat_interleave(50)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        images = (g(torch.rand(500, 16, generator=gen) * 2 - 1, y) + 1) / 2
        accuracy = (load_digits_classifier()(images).argmax(1) == y).float().mean().item()
    assert accuracy > 0.3
