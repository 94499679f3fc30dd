"""Real-data statistics files: ``.npz`` with ``mu`` (d,) and ``sigma`` (d, d), the format of the
TTUR (Heusel et al. 2017) and pytorch-fid tools, so published statistics files load here and
ours load there. Written atomically (temporary name, then rename)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from study.gan.errors import ConfigError


def stats_sha256(mu: np.ndarray, sigma: np.ndarray) -> str:
    """Identity of a reference: sha256 of mu then sigma as little-endian float64 bytes."""
    h = hashlib.sha256()
    for a in (mu, sigma):
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return h.hexdigest()


def save_stats(path: str | Path, mu: np.ndarray, sigma: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, mu=np.asarray(mu, dtype=np.float64), sigma=np.asarray(sigma, dtype=np.float64))
    os.replace(tmp, path)
    return path


def load_stats(path: str | Path, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) from ``path``; ``dim``: the feature size they must have (2048 for Inception pool3)."""
    path = Path(path).expanduser()
    try:
        with np.load(path, allow_pickle=False) as z:
            mu, sigma = np.asarray(z["mu"], dtype=np.float64), np.asarray(z["sigma"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as e:
        raise ConfigError(f"fid_stats: {path}: unreadable ({type(e).__name__}: {e}); expected an .npz with "
                          f"'mu' (d,) and 'sigma' (d, d), as TTUR and pytorch-fid write") from None
    d = mu.shape[0] if mu.ndim == 1 else -1
    if mu.ndim != 1 or sigma.shape != (d, d) or (dim is not None and d != dim):
        raise ConfigError(f"fid_stats: {path}: mu {mu.shape}, sigma {sigma.shape}; expected mu ({dim or 'd'},) "
                          f"and sigma ({dim or 'd'}, {dim or 'd'}) for this feature extractor")
    return mu, sigma
