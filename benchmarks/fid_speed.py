"""Frechet distance at 2048-d against scipy.linalg.sqrtm, and Inception feature throughput.

1. Two 2048-d Gaussians fitted to 4,096 correlated random features each (so the covariances
   have the conditioning of real Inception statistics rather than of white noise); our
   eigenvalue method vs the sqrtm formula, both in the same run, same inputs: time and value.
2. Images per second through the Inception pipeline (uint8 rounding, TF bilinear resize to 299,
   pool3), on the CPU and on CUDA when present; needs `gan-study weights` first (skipped otherwise).

    python benchmarks/fid_speed.py [--repeats 3] [--images 100]
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


def inception_throughput(device: torch.device, n: int) -> float | None:
    from study.gan.metrics import inception_weights
    from study.gan.metrics.extractors import EXTRACTORS, extract

    try:
        inception_weights.resolve()
    except inception_weights.WeightsError:
        return None
    ex = EXTRACTORS.get("inception")
    model = ex.load(device, "tf_bilinear")
    images = torch.rand(n, 3, 32, 32, device=device)
    extract(ex, model, images[:4])
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    extract(ex, model, images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=100)
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
    for name, device in (("cpu", torch.device("cpu")),) + ((("cuda", torch.device("cuda")),)
                                                             if torch.cuda.is_available() else ()):
        ips = inception_throughput(device, args.images)
        if ips is not None:
            figures[f"inception_{name}_images_per_s"] = round(ips, 2)
            print(f"Inception features on {name}: {ips:.1f} images/s", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
