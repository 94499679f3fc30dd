"""What a group's members share, built once: data, training batches, heads, loss, penalty,
evaluator, evaluation latents, the grid's latents and the columns every row carries.

Members may differ only in what ``fused.grouping.MEMBER_FIELDS`` names (rates, betas, lambda,
seed), so everything here is built from the first member's config. The evaluator is built
under a forked random state: building it consumes no member's random stream.
"""
from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from typing import Any, Callable

import torch

from study.gan.artifacts import BEST_GENERATOR, GENERATORS, SAMPLES, Artifacts
from study.gan.config import TrialConfig
from study.gan.data import DataOptions, load_dataset
from study.gan.data.loader import ResidentBatches, StreamedBatches, batches
from study.gan.data.registry import to_range
from study.gan.device import device_name, pick_device
from study.gan.export import generator_payload, payload_bytes
from study.gan.losses import LOSSES, Loss
from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions
from study.gan.metrics.inception_weights import cache_dir
from study.gan.models import HEADS, build_models
from study.gan.models.registry import VBN_REFERENCE_SEED, VBN_REFERENCE_SIZE, ModelOptions
from study.gan.penalties import PENALTIES, Penalty
from study.gan.samples import grid_latents, grid_png
from study.gan.training.schedule import sample_z

Batches = ResidentBatches | StreamedBatches


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of (N, C, H, W) images (for the bn_clip head's initialisation)."""
    return images.mean((0, 2, 3)), images.std((0, 2, 3))


def head_statistics(data, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images' per-channel mean and std in the head's range: a real dataset's as its
    manifest records them (computed when prepared), the digits' from the images."""
    if data.channel_stats is not None:
        mean, std = data.channel_stats
        return mean * (high - low) + low, std * (high - low)
    return channel_stats(to_range(data.train, low, high))


def training_labels(cfg: TrialConfig, data, train, device: torch.device) -> tuple[torch.Tensor | None, int]:
    """A conditional trial's training labels (on the device) and class count; (None, 0) otherwise."""
    if not cfg.conditional:
        return None, 0
    if data.train_labels is None:
        raise ValueError(f"conditional: dataset {cfg.dataset} has no labels for its training split"
                         + (f" {cfg.train_split!r}" if cfg.train_split else ""))
    if not hasattr(train, "next_labeled"):
        raise ValueError("conditional: the training set is streamed from disk; labelled batches need it resident")
    labels = data.train_labels.long().to(device)
    return labels, int(labels.max()) + 1


def trial_models(cfg: TrialConfig, head, head_stats, classes: int = 0,
                 z_ref: torch.Tensor | None = None) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D as ``cfg`` builds them (on the CPU; the caller seeds and moves them)."""
    return build_models(cfg.architecture, ModelOptions.from_config(cfg, head=head, head_stats=head_stats,
                                                                   classes=classes, z_ref=z_ref))


def trial_evaluator(cfg: TrialConfig, data, device: torch.device) -> Evaluator:
    return Evaluator(data, EvaluatorOptions.from_config(cfg, cache=cache_dir()), device)


def worker_columns(device: torch.device, evaluator: Evaluator, data, fused_members: int = 1) -> dict[str, Any]:
    """The columns every row of a trial shares: where it ran, what its FID compares with."""
    return {"device_name": device_name(device), "hostname": socket.gethostname(), "torch_version": torch.__version__,
            "feature_extractor": evaluator.extractor.name, "fid_samples": evaluator.samples,
            "fid_split": evaluator.split, "fid_real_samples": evaluator.real_samples,
            "fid_real_stats_sha256": evaluator.stats_sha256, "data_manifest_sha256": data.manifest_sha256,
            "feature_weights_sha256": evaluator.weights_sha256,
            "fd_dinov2_weights_sha256": evaluator.fd_dinov2_weights_sha256,
            "step_mode_used": "eager", "fused_members": fused_members}


def keep_files(artifacts: Artifacts | None, cfg: TrialConfig, evaluated: torch.nn.Module, grid_z: torch.Tensor | None,
               head, fid: float, best_fid: float, step: int, final: bool) -> None:
    """The files of one evaluation (written before its report: a reported best has its files):
    a new best FID's generator and grid, the final grid, and with ``sample_every`` every grid."""
    if artifacts is None:
        return
    png = grid_png(evaluated, grid_z, head.low, head.high) if grid_z is not None else None
    if fid < best_fid:
        artifacts.write(GENERATORS, BEST_GENERATOR,
                        payload_bytes(generator_payload(cfg, evaluated, step=step, fid=fid)))
        if png is not None:
            artifacts.write(SAMPLES, "best.png", png)
    if png is not None and final:
        artifacts.write(SAMPLES, "final.png", png)
    if png is not None and cfg.sample_every:
        artifacts.write(SAMPLES, f"step-{step:09d}.png", png)


@dataclass
class Shared:
    """A group's shared parts (built by ``build_shared``)."""

    cfg: TrialConfig  # the first member's: every shared field is equal across members
    device: torch.device
    memory_format: torch.memory_format
    autocast: Callable[[], contextlib.AbstractContextManager]
    head: Any
    data: Any
    train: Batches  # resident batches, or the first member's streamed ones
    labels: torch.Tensor | None
    classes: int
    head_stats: tuple[torch.Tensor, torch.Tensor]
    z_ref: torch.Tensor  # VBN's reference latents (a fixed seed, the same for every member)
    loss: Loss
    penalty: Penalty
    evaluator: Evaluator
    eval_z: torch.Tensor
    grid_z: torch.Tensor | None
    common: dict[str, Any]
    stack: contextlib.ExitStack

    def batches_for(self, cfg: TrialConfig, first: bool) -> Batches:
        """A member's training batches: the resident set is shared (each member draws its own
        indices), a streamed set is the member's own (seeded by its seed, as alone)."""
        if first or isinstance(self.train, ResidentBatches):
            return self.train
        own = batches(self.data.train, self.device, self.head.low, self.head.high, cfg.batch_size, cfg.seed,
                      self.memory_format)
        self.stack.callback(own.close)
        return own


def _autocast(cfg: TrialConfig, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    if cfg.precision == "bf16" and device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def build_shared(cfg: TrialConfig, stack: contextlib.ExitStack, *, members: int, keep_grids: bool) -> Shared:
    """Everything the members of a group share, in the order a solo trial always built it."""
    device = pick_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    head = HEADS.get(cfg.g_head)
    data = load_dataset(cfg.dataset, cfg.resolution, cfg.channels, DataOptions.from_config(cfg))
    train = batches(data.train, device, head.low, head.high, cfg.batch_size, cfg.seed, memory_format)
    stack.callback(train.close)  # a streaming prefetch thread ends with the trial
    labels, classes = training_labels(cfg, data, train, device)
    z_ref = sample_z(VBN_REFERENCE_SIZE, cfg.z_dim, cfg.z_dist,
                     torch.Generator(device=device).manual_seed(VBN_REFERENCE_SEED), device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        evaluator = trial_evaluator(cfg, data, device)
    grid_z = (grid_latents(cfg.sample_grid, cfg.z_dim, cfg.z_dist, cfg.sample_seed)
              if keep_grids and cfg.sample_grid else None)
    return Shared(cfg=cfg, device=device, memory_format=memory_format, autocast=_autocast(cfg, device), head=head,
                  data=data, train=train, labels=labels, classes=classes,
                  head_stats=head_statistics(data, head.low, head.high), z_ref=z_ref.cpu(),
                  loss=LOSSES.get(cfg.loss), penalty=PENALTIES.get(cfg.penalty), evaluator=evaluator,
                  eval_z=evaluator.latents(cfg.z_dim, cfg.z_dist), grid_z=grid_z,
                  common=worker_columns(device, evaluator, data, fused_members=members), stack=stack)
