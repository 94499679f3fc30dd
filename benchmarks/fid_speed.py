"""Frechet distance at 2048-d against scipy.linalg.sqrtm, and the throughput of every feature space.

1. Two 2048-d Gaussians fitted to 4,096 correlated random features each (so the covariances
   have the conditioning of real Inception statistics rather than of white noise); our
   eigenvalue method vs the sqrtm formula, both in the same run, same inputs: time and value.
2. Images per second through each feature space's whole pipeline (its preprocessing and network,
   batched as the evaluator batches them), 32 px RGB images, on the CPU and on CUDA when present:
   digits; inception (after `gan-study weights`, else skipped); dinov2_vits14/vitb14/vitl14/vitg14
   with randomly initialised networks of the real shapes (the weights' values do not change the
   work done, so the figures hold for the real checkpoints; nothing is downloaded). Each space is
   timed on the papers' 10,000 images when that fits in ``--budget-s`` seconds, else on as many
   batches as fit, and the time for 10,000 is then extrapolated (``..._10k_s``, with
   ``..._measured_images`` saying how many were timed).

    python benchmarks/fid_speed.py [--repeats 3] [--images 10000] [--budget-s 20] [--spaces digits,dinov2_vitl14]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import scipy.linalg
import torch

from study.gan.metrics.frechet import feature_statistics, frechet_distance


def sqrtm_fid(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(covmean)))


def timed(fn, repeats: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), value


SPACES = ("digits", "inception", "dinov2_vits14", "dinov2_vitb14", "dinov2_vitl14", "dinov2_vitg14")
PAPER_SAMPLES = 10_000


def space_model(name: str, device: torch.device) -> torch.nn.Module | None:
    """The extractor's module as the evaluator uses it; DINOv2 with random weights of the real
    shapes; None where it cannot run here (Inception weights not fetched, timm missing)."""
    from study.gan.metrics import dinov2, inception_weights
    from study.gan.metrics.extractors import EXTRACTORS

    if name == "inception":
        try:
            inception_weights.resolve()
        except inception_weights.WeightsError:
            return None
    if not name.startswith("dinov2"):
        return EXTRACTORS.get(name).load(device, "tf_bilinear")
    try:
        timm = dinov2.timm_module()
    except inception_weights.WeightsError:
        return None
    arch = dinov2.ARCHS[name]
    torch.manual_seed(0)
    net = timm.create_model(arch.timm_name, pretrained=False, num_classes=0, img_size=dinov2.SIZE)
    return dinov2.DinoV2Features(net.eval().to(device), arch, "random-init")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(name: str, device: torch.device, images: int, budget_s: float) -> dict[str, float] | None:
    """Images per second of ``name`` on ``images`` images, or on the whole batches that fit in
    ``budget_s`` (judged from one timed batch), and the seconds 10,000 take (extrapolated when
    fewer were timed)."""
    from study.gan.metrics.extractors import EXTRACTORS, extract

    model = space_model(name, device)
    if model is None:
        return None
    ex = EXTRACTORS.get(name)
    gen = torch.Generator().manual_seed(0)
    batch = min(ex.batch_size, images)
    probe = torch.rand(batch, 3, 32, 32, generator=gen).to(device)
    extract(ex, model, probe[: min(batch, 4)])  # warm-up
    sync(device)
    t = time.perf_counter()
    extract(ex, model, probe)
    sync(device)
    rate = batch / (time.perf_counter() - t)
    n = min(images, max(batch, int(rate * budget_s) // batch * batch))
    if n > batch:
        x = torch.rand(n, 3, 32, 32, generator=gen).to(device)
        sync(device)
        t = time.perf_counter()
        extract(ex, model, x)
        sync(device)
        rate = n / (time.perf_counter() - t)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"images_per_s": round(rate, 2), "10k_s": round(PAPER_SAMPLES / rate, 1), "measured_images": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=PAPER_SAMPLES, help="images per space at most (10,000)")
    parser.add_argument("--budget-s", type=float, default=20.0, help="seconds per space and device, about")
    parser.add_argument("--spaces", default=",".join(SPACES), help="comma-separated feature spaces")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    d, n = 2048, 4096
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    a = np.maximum(rng.normal(size=(n, d)) @ mix, 0)  # ReLU-like, correlated, as pool3 features are
    b = np.maximum(rng.normal(0.1, 1.0, size=(n, d)) @ mix, 0)
    (mu1, s1), (mu2, s2) = feature_statistics(a), feature_statistics(b)
    ours_s, ours = timed(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats)
    scipy_s, ref = timed(lambda: sqrtm_fid(mu1, s1, mu2, s2), args.repeats)
    print(f"Frechet distance 2048-d: ours {ours_s:.2f}s = {ours:.6f}; sqrtm {scipy_s:.2f}s = {ref:.6f}", flush=True)
    figures = {"frechet_ours_s": round(ours_s, 3), "frechet_sqrtm_s": round(scipy_s, 3),
               "speedup": round(scipy_s / ours_s, 2), "relative_difference": abs(ours - ref) / abs(ref)}
    devices = [("cpu", torch.device("cpu"))] + ([("cuda", torch.device("cuda"))] if torch.cuda.is_available() else [])
    figures["cpu_threads"] = torch.get_num_threads()
    figures["dinov2_weights"] = "random init of the real shapes (the values do not change the speed)"
    for dev_name, device in devices:
        for space in [s for s in args.spaces.split(",") if s]:
            got = throughput(space, device, args.images, args.budget_s)
            if got is None:
                print(f"{space} on {dev_name}: skipped (weights or timm not available)", flush=True)
                continue
            for k, v in got.items():
                figures[f"{space}_{dev_name}_{k}"] = v
            timed_n = got["measured_images"]
            kind = "measured" if timed_n >= PAPER_SAMPLES else f"extrapolated from {timed_n}"
            print(f"{space} on {dev_name}: {got['images_per_s']:.1f} images/s; 10k images: {got['10k_s']:.0f} s "
                  f"({kind})", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
