"""One trial: build data and models from a TrialConfig, train, evaluate, report.

The trial knows nothing of Ray Tune: it calls ``report(row, state)`` at every evaluation
with a plain dict of metrics and, when the caller asked for checkpoints, the training state
(networks, optimisers, EMA, counters, random generator states) from which ``run_trial(...,
state=...)`` continues exactly where it was. A NaN or infinite loss ends the trial early with
status ``diverged`` and the step it happened at; it never raises for that.
"""
from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import warnings
from typing import Any, Callable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from study.gan.artifacts import BEST_GENERATOR, GENERATORS, SAMPLES, Artifacts
from study.gan.config import TrialConfig
from study.gan.data import DataOptions, load_dataset
from study.gan.data.loader import batches
from study.gan.data.registry import to_range
from study.gan.device import device_name, pick_device
from study.gan.export import generator_payload, payload_bytes
from study.gan.losses import LOSSES
from study.gan.metrics.evaluator import Evaluator
from study.gan.metrics.inception_weights import cache_dir
from study.gan.models import HEADS, build_models
from study.gan.models.conditional import conditioned
from study.gan.models.registry import VBN_REFERENCE_SEED, VBN_REFERENCE_SIZE
from study.gan.normalizers import NORMALIZERS
from study.gan.penalties import PENALTIES, PenaltyInputs
from study.gan.samples import grid_latents, grid_png
from study.gan.tricks import HistoricalAverage, feature_matching_loss, label_targets, target_d_loss

Report = Callable[..., None]  # report(row) or report(row, state)
FINITE_CHECK_EVERY = 25  # G iterations between host syncs for the divergence check (exact step kept)
IWGAN_CRITIC_WARMUP, IWGAN_CRITIC_STEPS, IWGAN_CRITIC_EVERY = 25, 50, 500


def sample_z(n: int, z_dim: int, dist: str, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    if dist == "normal":
        return torch.randn(n, z_dim, generator=gen, device=device)
    return torch.rand(n, z_dim, generator=gen, device=device) * 2.0 - 1.0


def critic_steps(cfg: TrialConfig, g_iteration: int) -> int:
    """D steps before G step ``g_iteration`` (0-based). The iWGAN schedule (Gulrajani et al.
    2017 code; Mullery and Whelan): 50 for the first 25 G steps and at every 500th, else n_dis."""
    if cfg.n_dis_schedule == "iwgan" and (g_iteration < IWGAN_CRITIC_WARMUP or g_iteration % IWGAN_CRITIC_EVERY == 0):
        return IWGAN_CRITIC_STEPS
    return cfg.n_dis


def instance_noise_std(cfg: TrialConfig, step: int) -> float:
    """Linear decay from ``instance_noise`` at step 0 to 0 at ``instance_noise_steps``."""
    if cfg.instance_noise == 0.0:
        return 0.0
    horizon = cfg.instance_noise_steps or cfg.steps
    return cfg.instance_noise * max(0.0, 1.0 - step / horizon)


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
    return build_models(cfg.architecture, resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim,
                        width=cfg.width, d_norm=NORMALIZERS.get(cfg.d_norm), g_norm=NORMALIZERS.get(cfg.g_norm),
                        head=head, head_stats=head_stats, options=cfg.arch_option_set(), init=cfg.init,
                        upsample=cfg.upsample, d_minibatch=cfg.d_minibatch, g_dropout=cfg.g_dropout, classes=classes,
                        z_ref=z_ref)


def trial_evaluator(cfg: TrialConfig, data, device: torch.device) -> Evaluator:
    return Evaluator(data, cfg.eval_split, cfg.feature_extractor, device, cfg.resolution, cfg.channels,
                     cfg.eval_samples, cfg.fid_resize, cfg.metric_set(), cfg.recon_samples, cfg.recon_steps,
                     cache=cache_dir(), real_samples=cfg.eval_real_samples, stats_file=cfg.fid_stats,
                     conditional=cfg.conditional)


def worker_columns(device: torch.device, evaluator: Evaluator, data, fused_members: int = 1) -> dict[str, Any]:
    """The columns every row of a trial shares: where it ran, what its FID compares with."""
    return {"device_name": device_name(device), "hostname": socket.gethostname(), "torch_version": torch.__version__,
            "feature_extractor": evaluator.extractor.name, "fid_samples": evaluator.samples,
            "fid_split": evaluator.split, "fid_real_samples": evaluator.real_samples,
            "fid_real_stats_sha256": evaluator.stats_sha256, "data_manifest_sha256": data.manifest_sha256,
            "step_mode_used": "eager", "fused_members": fused_members}


def keep_files(artifacts: Artifacts | None, cfg: TrialConfig, evaluated: torch.nn.Module, grid_z: torch.Tensor | None,
               head, fid: float, best_fid: float, step: int, final: bool) -> None:
    """The files of one evaluation (written before its report: a reported best has its files):
    a new best FID's generator and grid, the final grid, and with ``sample_every`` every grid."""
    if artifacts is None:
        return
    png = grid_png(evaluated, grid_z, head.low, head.high) if grid_z is not None else None
    if fid < best_fid:
        artifacts.write(GENERATORS, BEST_GENERATOR, payload_bytes(generator_payload(cfg, evaluated, step=step, fid=fid)))
        if png is not None:
            artifacts.write(SAMPLES, "best.png", png)
    if png is not None and final:
        artifacts.write(SAMPLES, "final.png", png)
    if png is not None and cfg.sample_every:
        artifacts.write(SAMPLES, f"step-{step:09d}.png", png)


@contextlib.contextmanager
def _deterministic(enabled: bool):
    """torch's deterministic-algorithms switch is process-wide: set it for the trial, then restore."""
    before = torch.are_deterministic_algorithms_enabled()
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled or before)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def run_trial(cfg: TrialConfig, report: Report, state: dict[str, Any] | None = None,
              checkpoints: bool = False, artifacts: Artifacts | None = None) -> dict[str, Any]:
    """Train one GAN as ``cfg`` says; call ``report`` at each evaluation; return the last row.

    ``checkpoints``: pass the training state as ``report``'s second argument at each
    non-final evaluation. ``state``: such a state to continue from. ``artifacts``: where to
    keep files (study/gan/artifacts.py): at an evaluation with a new best FID, the evaluated
    generator (G, or its EMA) as ``generators/best.pt`` (study/gan/export.py) and its sample
    grid as ``samples/best.png``; at the final one ``samples/final.png`` (every evaluation's
    grid too with ``sample_every``). They are written before the evaluation is reported.
    """
    cfg = cfg.validated()  # a config built directly still resolves its "auto" choices
    if captured_step(cfg):
        return run_as_group(cfg, report, state, checkpoints, artifacts)
    if cfg.step_mode == "graph":
        warnings.warn(f"step_mode: graph: {_graph_refusal(cfg)}; the training step runs eagerly", stacklevel=2)
    with _deterministic(cfg.deterministic), contextlib.ExitStack() as stack:
        return _run(cfg, report, state, checkpoints, stack, artifacts)


def _graph_refusal(cfg: TrialConfig) -> str:
    from study.gan.fused.grouping import unfusable

    device = pick_device(cfg.device)
    return f"CUDA graphs need a CUDA device, not {device.type}" if device.type != "cuda" else unfusable(cfg)


def captured_step(cfg: TrialConfig) -> bool:
    """Whether the trial runs as a fused group of one, whose steps are captured as CUDA graphs
    (study/gan/fused/graphs.py): on CUDA, unless ``step_mode: eager`` or a trick the group does
    not carry. On the CPU the eager loop below runs, as it always did."""
    return cfg.step_mode != "eager" and pick_device(cfg.device).type == "cuda" and not _graph_refusal(cfg)


def run_as_group(cfg: TrialConfig, report: Report, state: dict[str, Any] | None = None, checkpoints: bool = False,
                 artifacts: Artifacts | None = None) -> dict[str, Any]:
    """``run_trial`` through a fused group of one member (study/gan/fused/group.py): the same
    rows, checkpoints (in this module's format) and files."""
    from study.gan.fused.group import run_group

    def member_report(rows: list, states: list) -> None:
        if rows[0] is None:
            return
        if states[0] is None:
            report(rows[0])
        else:
            report(rows[0], states[0])

    return run_group([cfg], member_report, [state] if state is not None else None, checkpoints, [artifacts])[0]


def _run(cfg: TrialConfig, report: Report, state: dict[str, Any] | None, checkpoints: bool,
         stack: contextlib.ExitStack, artifacts: Artifacts | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    device = pick_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cfg.precision == "bf16" and device.type == "cuda"
                else contextlib.nullcontext())

    head = HEADS.get(cfg.g_head)
    data = load_dataset(cfg.dataset, cfg.resolution, cfg.channels, DataOptions.from_config(cfg))
    train = batches(data.train, device, head.low, head.high, cfg.batch_size, cfg.seed, memory_format)
    stack.callback(train.close)  # a streaming prefetch thread ends with the trial
    labels, classes = training_labels(cfg, data, train, device)
    z_ref = sample_z(VBN_REFERENCE_SIZE, cfg.z_dim, cfg.z_dist,
                     torch.Generator(device=device).manual_seed(VBN_REFERENCE_SEED), device)
    g, d = trial_models(cfg, head, head_statistics(data, head.low, head.high), classes, z_ref.cpu())
    g = g.to(device, memory_format=memory_format)
    d = d.to(device, memory_format=memory_format)
    g_eval = AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(cfg.g_ema), use_buffers=True) if cfg.g_ema else None
    loss, penalty = LOSSES.get(cfg.loss), PENALTIES.get(cfg.penalty)
    opt_g = torch.optim.Adam([p for p in g.parameters() if p.requires_grad], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.d_lr, betas=(cfg.beta1, cfg.beta2))
    hist = (HistoricalAverage(d), HistoricalAverage(g)) if cfg.historical_averaging else None
    evaluator = trial_evaluator(cfg, data, device)
    eval_z = evaluator.latents(cfg.z_dim, cfg.z_dist)
    common = worker_columns(device, evaluator, data)

    step, best_fid, g_iter = 0, math.inf, 0
    if state is not None:
        g.load_state_dict(state["g"])
        d.load_state_dict(state["d"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if g_eval is not None:
            g_eval.load_state_dict(state["g_eval"])
        if hist is not None:
            hist[0].load_state_dict(state["hist_d"])
            hist[1].load_state_dict(state["hist_g"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        step, best_fid, g_iter = state["step"], state["best_fid"], state["g_iter"]
        start -= float(state.get("wall_time_s", 0.0))  # wall_time_s counts the compute before the retry too
    restored_from = step
    common["restored_from_step"] = restored_from
    last: dict[str, Any] = {}
    pending: list[tuple[int, torch.Tensor]] = []  # (step, finite flag) awaiting a host check
    d_val = g_val = torch.zeros((), device=device)
    bs = cfg.batch_size

    def emit(status: str, fid: float, error: str = "", final: bool = False, extra: dict | None = None) -> None:
        nonlocal last, best_fid
        if math.isfinite(fid):
            best_fid = min(best_fid, fid)
        last = {"step": step, "fid": fid, "best_fid": best_fid if math.isfinite(best_fid) else float("nan"),
                "d_loss": float(d_val.detach()), "g_loss": float(g_val.detach()), "status": status, "error": error,
                "is_final": final, "wall_time_s": time.perf_counter() - start, **common, **(extra or {})}
        if checkpoints and not final:
            report(last, {"g": g.state_dict(), "d": d.state_dict(), "opt_g": opt_g.state_dict(),
                          "opt_d": opt_d.state_dict(), "g_eval": g_eval.state_dict() if g_eval is not None else None,
                          "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                          "best_fid": best_fid, "g_iter": g_iter, "wall_time_s": last["wall_time_s"],
                          **({"hist_d": hist[0].state_dict(), "hist_g": hist[1].state_dict()} if hist else {})})
        else:
            report(last)

    grid_z = (grid_latents(cfg.sample_grid, cfg.z_dim, cfg.z_dist, cfg.sample_seed)
              if artifacts is not None and cfg.sample_grid else None)

    def first_bad() -> int | None:
        if not pending:
            return None
        flags = torch.stack([f for _, f in pending]).cpu()
        steps = [s for s, _ in pending]
        pending.clear()
        bad = (~flags).nonzero()
        return steps[int(bad[0])] if len(bad) else None

    def noisy(x: torch.Tensor, std: float) -> torch.Tensor:
        return x if std == 0.0 else x + std * torch.randn(x.shape, generator=gen, device=device, dtype=x.dtype)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor | None]:
        return train.next_labeled(bs, gen, labels) if labels is not None else (train.next(bs, gen), None)

    def sample_labels() -> torch.Tensor | None:
        """G's classes: drawn from the training labels, so in the data's proportion."""
        if labels is None:
            return None
        return labels[torch.randint(0, len(labels), (bs,), generator=gen, device=device)]

    def generate(z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return g(z) if y is None else g(z, y)

    def generator_loss(fake_in: torch.Tensor) -> torch.Tensor:
        """L_G, or (1 - w) L_G + w L_FM with feature matching (tricks.feature_matching_loss)."""
        w = cfg.feature_matching
        adversarial = loss.g_loss(d(fake_in)) if w < 1 else None
        if w == 0:
            return adversarial
        real, _ = next_batch()
        with torch.no_grad():
            real_features = d.features(noisy(real, noise))
        fm = feature_matching_loss(real_features, d.features(fake_in))
        return fm if adversarial is None else (1 - w) * adversarial + w * fm

    while step < cfg.steps:
        n_critic = critic_steps(cfg, g_iter)
        noise = instance_noise_std(cfg, step)
        for _ in range(n_critic):
            real, y = next_batch()
            z = sample_z(bs, cfg.z_dim, cfg.z_dist, gen, device)
            with autocast, conditioned(d, y):
                with torch.no_grad():
                    fake = generate(z, y)
                real_in, fake_in = noisy(real, noise), noisy(fake, noise)
                if cfg.label_noise or cfg.label_flip:
                    targets = label_targets(bs, cfg.label_noise, cfg.label_flip, cfg.label_smoothing, gen, device)
                    d_val = target_d_loss(d(real_in), d(fake_in), *targets)
                else:
                    d_val = loss.d_loss(d(real_in), d(fake_in), cfg.label_smoothing)
                if penalty.active:
                    d_val = d_val + cfg.penalty_lambda * penalty(
                        PenaltyInputs(d, real_in, fake_in, gen, head.low, head.high)).to(d_val.dtype)
                if hist is not None:
                    d_val = d_val + cfg.historical_averaging * hist[0].penalty().to(d_val.dtype)
            opt_d.zero_grad(set_to_none=True)
            d_val.backward()
            opt_d.step()
            if hist is not None:
                hist[0].update()
        with autocast:
            y = sample_labels()
            fake_in = noisy(generate(sample_z(bs, cfg.z_dim, cfg.z_dist, gen, device), y), noise)
            with conditioned(d, y):
                g_val = generator_loss(fake_in)
            if hist is not None:
                g_val = g_val + cfg.historical_averaging * hist[1].penalty().to(g_val.dtype)
        opt_g.zero_grad(set_to_none=True)
        g_val.backward()
        opt_g.step()
        if hist is not None:
            hist[1].update()
        if g_eval is not None:
            g_eval.update_parameters(g)
        g_iter += 1
        prev, step = step, step + (n_critic if cfg.step_unit == "discriminator" else 1)
        pending.append((step, torch.isfinite(d_val.detach()) & torch.isfinite(g_val.detach())))

        crossed_eval = step // cfg.eval_every > prev // cfg.eval_every
        if crossed_eval or len(pending) >= FINITE_CHECK_EVERY or step >= cfg.steps:
            bad = first_bad()
            if bad is not None:
                step = bad
                emit("diverged", float("nan"), f"non-finite loss at step {bad}", final=True)
                return last
        if crossed_eval or step >= cfg.steps:
            evaluated = g_eval.module if g_eval is not None else g
            result = evaluator(evaluated, eval_z, head.low, head.high, cfg.z_dim, labels=evaluator.eval_labels)
            if not math.isfinite(result.fid):
                emit("diverged", result.fid, f"non-finite generator output at step {step}", final=True)
                return last
            keep_files(artifacts, cfg, evaluated, grid_z, head, result.fid, best_fid, step, final=step >= cfg.steps)
            emit("ok", result.fid, final=step >= cfg.steps, extra=result.extra)
    return last
