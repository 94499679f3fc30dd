"""Evaluation of a generator against a real split, on fixed evaluation latents.

Metrics (``TrialConfig.metrics``, "+"-separated): ``fid`` (always computed), ``is``, ``kid``,
``pr`` (improved precision and recall, k = 3, columns ``pr_precision`` and ``pr_recall``),
``dc`` (density and coverage, Naeem et al. 2020, k = 5, columns ``dc_density`` and ``dc_coverage``),
``hist`` (pixel-histogram distance), ``recon`` (reconstruction error) and, for a conditional
generator, ``intra_fid``: the mean over classes k of the FID between the samples generated for
class k and the real images of class k (Miyato and Koyama 2018, Sec. 5: "intra-FID").
``fd_dinov2``: the Frechet distance in DINOv2 ViT-L/14 features (Stein et al. 2023's FD_DINOv2,
dgm-eval's encoder; study/gan/metrics/dinov2.py) beside the study's own FID, its real statistics
cached like the main extractor's; when that extractor is ViT-L/14 itself, it is that FID.
A conditional generator is sampled with the real split's labels (``eval_labels``: the split's
own labels when as many samples as real images, else a seeded cycle through them), so the
classes come in the real split's proportion. Real-data features
and statistics are computed once per (dataset, split, resolution, channels, extractor, resize,
sample count), cached in this process and on disk (``<cache>/real_stats/<key>.npz``, written
atomically), and reused by every evaluation and every trial.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from study.gan.data.registry import Dataset, as_unit
from study.gan.metrics.density_coverage import NEAREST_K as DC_K
from study.gan.metrics.density_coverage import density_coverage
from study.gan.metrics.extractors import EXTRACTORS, Extractor, extract, extract_logits
from study.gan.metrics.frechet import feature_statistics, frechet_distance
from study.gan.metrics.precision_recall import NEAREST_K as PR_K
from study.gan.metrics.precision_recall import knn_radii, precision_recall
from study.gan.metrics.preprocess import INPUT_SCALES
from study.gan.metrics.reconstruction import reconstruction_error
from study.gan.metrics.scores import inception_score, kernel_inception_distance, pixel_histogram_distance

EVAL_LATENT_SEED = 2019  # the same latents for every trial, so FIDs are comparable
METRICS = ("fid", "is", "kid", "pr", "dc", "hist", "recon", "intra_fid", "fd_dinov2")


@dataclass(frozen=True)
class RealStats:
    features: np.ndarray  # float32 (n, d)
    mu: np.ndarray
    sigma: np.ndarray


@dataclass(frozen=True)
class EvalResult:
    fid: float
    extractor: str
    samples: int
    split: str
    extra: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureSpace:
    """A feature space scored beside the main one (``fd_dinov2``): its extractor, network and real statistics."""

    extractor: Extractor
    model: nn.Module
    stats: RealStats

    def distance(self, images: torch.Tensor) -> float:
        feats = extract(self.extractor, self.model, images).numpy()
        return frechet_distance(*feature_statistics(feats), self.stats.mu, self.stats.sigma)


_REAL_STATS: dict[str, RealStats] = {}
_REAL_RADII: dict[str, torch.Tensor] = {}


def stats_key(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def real_statistics(key: str, images: torch.Tensor, extractor: Extractor, model: nn.Module,
                    cache: Path | None) -> RealStats:
    if key in _REAL_STATS:
        return _REAL_STATS[key]
    path = cache / "real_stats" / f"{key}.npz" if cache is not None else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            stats = RealStats(z["features"], z["mu"], z["sigma"])
    else:
        feats = extract(extractor, model, images).numpy()
        mu, sigma = feature_statistics(feats)
        stats = RealStats(feats.astype(np.float32), mu, sigma)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, features=stats.features, mu=mu, sigma=sigma)
            os.replace(tmp, path)
    _REAL_STATS[key] = stats
    return stats


_PRECISION: dict[str, torch.dtype] = {}


def _calibrated_precision(model: nn.Module, real: torch.Tensor, n: int = 1000) -> str:
    """On CUDA: bf16 or fp16 for the Inception network where that moves FID by <= 1e-3
    relative on this data (real images against a jittered copy), else float32. Once per process."""
    from study.gan.metrics.extractors import choose_precision

    key = str(real.device)
    if key not in _PRECISION:
        gen = torch.Generator(device=real.device).manual_seed(0)
        a = real[:n]
        a = as_unit(a)
        b = (a + 0.1 * torch.randn(a.shape, generator=gen, device=a.device)).clamp(0, 1)
        _PRECISION[key], _ = choose_precision(model, a, b)
    model.dtype = _PRECISION[key]
    return str(model.dtype).removeprefix("torch.")


@dataclass(frozen=True, kw_only=True)
class EvaluatorOptions:
    """What an evaluation compares with and computes: the evaluation settings of a TrialConfig.

    ``real_samples``: the first that many images of the split (0: the dataset's protocol, e.g.
    10k for CIFAR-10, else the whole split); ``samples``: generated (0: as many). ``stats_file``:
    real (mu, sigma) from an .npz (TTUR / pytorch-fid) instead of the split's; KID, which needs
    the real features, is then NaN. ``cache``: where real statistics are kept on disk (None: in
    this process only). ``fast_inception``: on CUDA, Inception in bf16/fp16 where that moves FID
    by <= 1e-3 relative. ``weights``: the extractor's weights file ("": its own lookup)."""

    split: str
    extractor: str
    resolution: int
    channels: int
    samples: int = 0
    resize: str = "tf_bilinear"
    metrics: tuple[str, ...] = ("fid",)
    recon_samples: int = 64
    recon_steps: int = 50
    real_samples: int = 0
    stats_file: str = ""
    conditional: bool = False
    cache: Path | None = None
    fast_inception: bool = True
    weights: str = ""

    @classmethod
    def from_config(cls, cfg: Any, *, cache: Path | None) -> EvaluatorOptions:
        """``cfg``: a TrialConfig, read by its fields (not imported: study.gan.config imports this module)."""
        return cls(split=cfg.eval_split, extractor=cfg.feature_extractor, resolution=cfg.resolution,
                   channels=cfg.channels, samples=cfg.eval_samples, resize=cfg.fid_resize, metrics=cfg.metric_set(),
                   recon_samples=cfg.recon_samples, recon_steps=cfg.recon_steps, real_samples=cfg.eval_real_samples,
                   stats_file=cfg.fid_stats, conditional=cfg.conditional, cache=cache, weights=cfg.feature_weights)


class Evaluator:
    """Scores ``generator`` samples (mapped from the head's range to [0, 1]) against a split."""

    def __init__(self, dataset: Dataset, options: EvaluatorOptions, device: torch.device) -> None:
        self.options = options
        split, extractor, resize, samples = options.split, options.extractor, options.resize, options.samples
        self.extractor: Extractor = EXTRACTORS.get(extractor, "feature_extractor")
        self.split, self.device, self.metrics = split, device, options.metrics
        whole = dataset.split(split)
        self.real_samples = min(len(whole), options.real_samples or dataset.fid_real_samples or len(whole))
        self.real = whole[: self.real_samples]  # uint8 (real datasets, memory-mapped) or float in [0, 1]
        self.samples = samples or len(self.real)
        self.recon_samples, self.recon_steps = options.recon_samples, options.recon_steps
        self.model = self.extractor.load(device, resize, options.weights)
        self.precision = "float32"
        if extractor == "inception" and device.type == "cuda" and options.fast_inception:
            self.precision = _calibrated_precision(self.model, self.real.to(device))
        key = self._real_key(dataset, extractor, getattr(self.model, "identity", ""))
        if options.stats_file:
            from study.gan.metrics.stats_file import load_stats

            dim = extract(self.extractor, self.model, self.real[:2].to(device)).shape[1]
            mu, sigma = load_stats(options.stats_file, dim)
            self.stats = RealStats(np.empty((0, len(mu)), dtype=np.float32), mu, sigma)
            self.samples = samples or self.real_samples
            self.real_samples = 0  # the file's count is not known here
        else:
            self.stats = real_statistics(key, self.real.to(device), self.extractor, self.model, options.cache)
        from study.gan.metrics.stats_file import stats_sha256

        self.stats_sha256 = stats_sha256(self.stats.mu, self.stats.sigma)
        self.real_labels = self.eval_labels = None
        if options.conditional:
            labels = dataset.train_labels if split == "train" else dataset.test_labels
            if labels is None:
                raise ValueError(f"conditional: dataset {dataset.name} has no labels for its {split} split")
            self.real_labels = labels[: len(self.real)].long()
            gen = torch.Generator().manual_seed(EVAL_LATENT_SEED + 1)
            order = torch.randperm(len(self.real_labels), generator=gen)
            cycle = order.repeat(-(-self.samples // len(order)))[: self.samples]
            picked = self.real_labels if self.samples == len(self.real_labels) else self.real_labels[cycle]
            self.eval_labels = picked.to(device)
        self.stats_key = key
        self.fd_dinov2 = self._fd_dinov2_space(dataset) if "fd_dinov2" in self.metrics else None

    @property
    def weights_sha256(self) -> str:
        """The main extractor's weights (``feature_weights_sha256``)."""
        return str(getattr(self.model, "identity", ""))

    @property
    def fd_dinov2_weights_sha256(self) -> str:
        return str(getattr(self.fd_dinov2.model, "identity", "")) if self.fd_dinov2 is not None else ""

    def _fd_dinov2_space(self, dataset: Dataset) -> FeatureSpace:
        """DINOv2 ViT-L/14 and the real split's statistics in it: the main space itself when that is
        ViT-L/14 compared with the split; else with trial.feature_weights when the main extractor is
        ViT-L/14 (then compared with a statistics file), else the weights of $GAN_STUDY_DINOV2_WEIGHTS."""
        from study.gan.metrics.extractors import FD_DINOV2

        main = self.extractor.name == FD_DINOV2
        if main and not self.options.stats_file:
            return FeatureSpace(self.extractor, self.model, self.stats)
        extractor = EXTRACTORS.get(FD_DINOV2)
        model = self.model if main else extractor.load(self.device, "", "")
        key = self._real_key(dataset, FD_DINOV2, model.identity)
        stats = real_statistics(key, self.real.to(self.device), extractor, model, self.options.cache)
        return FeatureSpace(extractor, model, stats)

    def _real_key(self, dataset: Dataset, extractor: str, weights: str) -> str:
        """The real statistics' cache key in one feature space: the real set, the network's
        weights and, for Inception, the resize and input scaling that feed it."""
        resize = self.options.resize if extractor == "inception" else ""
        return stats_key(dataset=dataset.name, split=self.split, resolution=self.options.resolution,
                         channels=self.options.channels, extractor=extractor, weights=weights, resize=resize,
                         n=len(self.real), input_scale=list(INPUT_SCALES[resize]) if resize else None,
                         **({"manifest": dataset.manifest_sha256} if dataset.manifest_sha256 else {}))

    def real_radii(self, k: int = PR_K) -> torch.Tensor:
        """k-NN radii of the real features (``pr``: k = 3, ``dc``: k = 5): once per process, real
        set and k, like the statistics."""
        key = f"{self.stats_key}:{self.device}:{k}"
        if key not in _REAL_RADII:
            _REAL_RADII[key] = knn_radii(self.stats.features, k=k, device=self.device)
        return _REAL_RADII[key]

    def _density_coverage(self, feats: np.ndarray) -> dict[str, float]:
        """``dc``: density and coverage (k = 5) against the real features; NaN without them (a stats file)."""
        if not len(self.stats.features):
            return {"dc_density": float("nan"), "dc_coverage": float("nan")}
        dc = density_coverage(self.stats.features, feats, k=DC_K, device=self.device, real_radii=self.real_radii(DC_K))
        return {"dc_density": dc.density, "dc_coverage": dc.coverage}

    def latents(self, z_dim: int, z_dist: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(EVAL_LATENT_SEED)
        shape = (self.samples, z_dim)
        z = torch.randn(shape, generator=gen) if z_dist == "normal" else torch.rand(shape, generator=gen) * 2 - 1
        return z.to(self.device)

    @torch.no_grad()
    def _generate(self, generator: nn.Module, latents: torch.Tensor, low: float, high: float,
                  batch_size: int = 500, labels: torch.Tensor | None = None) -> torch.Tensor:
        was_training = generator.training
        generator.eval()
        args = (lambda i: (latents[i : i + batch_size],)) if labels is None else (
            lambda i: (latents[i : i + batch_size], labels[i : i + batch_size]))
        try:
            images = torch.cat([generator(*args(i)) for i in range(0, len(latents), batch_size)])
        finally:
            generator.train(was_training)
        return (images.float() - low) / (high - low)

    def __call__(self, generator: nn.Module, latents: torch.Tensor, low: float, high: float,
                 z_dim: int | None = None, labels: torch.Tensor | None = None) -> EvalResult:
        """``labels``: the class of each latent, for a conditional generator (``eval_labels``)."""
        images = self._generate(generator, latents, low, high, labels=labels)
        nan = float("nan")
        if not torch.isfinite(images).all():
            return EvalResult(nan, self.extractor.name, self.samples, self.split)
        images = images.clamp(0.0, 1.0)
        feats = extract(self.extractor, self.model, images).numpy()
        mu, sigma = feature_statistics(feats)
        fid = frechet_distance(mu, sigma, self.stats.mu, self.stats.sigma)
        extra: dict[str, float | str] = {}
        if self.fd_dinov2 is not None:
            extra["fd_dinov2"] = fid if self.fd_dinov2.stats is self.stats else self.fd_dinov2.distance(images)
        if "is" in self.metrics:
            logits = extract_logits(self.extractor, self.model, images)
            extra["inception_score"], extra["inception_score_std"] = (
                inception_score(logits.numpy()) if logits is not None else (nan, nan))
        if "kid" in self.metrics:
            extra["kid"], extra["kid_std"] = (kernel_inception_distance(feats, self.stats.features)
                                              if len(self.stats.features) else (nan, nan))
        if "pr" in self.metrics:
            if len(self.stats.features):  # an imported statistics file has no features: no P&R
                pr = precision_recall(self.stats.features, feats, device=self.device, real_radii=self.real_radii())
                extra["pr_precision"], extra["pr_recall"] = pr.precision, pr.recall
            else:
                extra["pr_precision"] = extra["pr_recall"] = nan
        if "dc" in self.metrics:
            extra.update(self._density_coverage(feats))
        if "hist" in self.metrics:
            extra["pixel_hist_distance"] = pixel_histogram_distance(images.cpu().numpy(), as_unit(self.real).numpy())
        if "recon" in self.metrics:
            with torch.enable_grad():
                extra["recon_error"] = reconstruction_error(generator, as_unit(self.real[: self.recon_samples]),
                                                            z_dim or latents.shape[1], low, high,
                                                            steps=self.recon_steps)
        if "intra_fid" in self.metrics:
            extra["intra_fid"] = (intra_fid(feats, labels.cpu().numpy(), self.stats.features,
                                            self.real_labels.cpu().numpy())
                                  if labels is not None and len(self.stats.features) else nan)
        extra["fid_precision"] = self.precision
        return EvalResult(fid, self.extractor.name, self.samples, self.split, extra)


def intra_fid(fake: np.ndarray, fake_labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray) -> float:
    """Mean over the real classes of FID(fake of class k, real of class k); NaN if a class has
    fewer than two samples on either side."""
    scores = []
    for k in np.unique(real_labels):
        f, r = fake[fake_labels == k], real[real_labels == k]
        if len(f) < 2 or len(r) < 2:
            return float("nan")
        scores.append(frechet_distance(*feature_statistics(f), *feature_statistics(r)))
    return float(np.mean(scores))
