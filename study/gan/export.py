"""Self-contained generator files: the weights, the TrialConfig they belong to, the package
version and the weights' sha256, in one ``torch.save`` file that loads with
``torch.load(weights_only=True)`` (plain tensors, strings and numbers: no code runs from it).

``load_generator(path)`` refuses a file that does not match itself: weights whose sha256
differs from the recorded one (damaged or tampered), a config that is not a valid TrialConfig,
or weights that do not fit the network that config builds (a missing, unexpected or
differently shaped tensor). The sha256 is taken over the tensors' names, dtypes, shapes and
bytes in name order, so it does not depend on how the file was pickled.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from study.gan.config import ConfigError, TrialConfig

FORMAT = "gan-study-generator/1"


class GeneratorFileError(ValueError):
    """A generator file that is not one, or that does not match its own config or digest."""


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gan-study")
    except PackageNotFoundError:
        return "unknown"


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def generator_payload(cfg: TrialConfig, generator: nn.Module, **info: Any) -> dict[str, Any]:
    """What a generator file holds. ``info``: plain values (step, fid, study, model, trial_key, ...)."""
    state = {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()}
    # A conditional generator's class count comes from the training labels, not from the config.
    classes = int(getattr(generator, "classes", 0) or 0)
    info = {"classes": classes, **info} if classes else dict(info)
    return {"format": FORMAT, "config": cfg.to_dict(), "state_dict": state, "weights_sha256": weights_sha256(state),
            "package_version": package_version(), "torch_version": str(torch.__version__), "info": info}


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(dict(payload), buf)
    return buf.getvalue()


def read_payload(data: bytes, where: str = "generator file") -> dict[str, Any]:
    """The payload of a generator file's bytes, its digest checked (not yet its fit to the config)."""
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear refusal
        raise GeneratorFileError(f"{where}: not a readable generator file ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise GeneratorFileError(f"{where}: format {got!r} is not a gan-study generator file; expected {FORMAT!r}")
    for key in ("config", "state_dict", "weights_sha256"):
        if key not in payload:
            raise GeneratorFileError(f"{where}: '{key}' is missing")
    actual = weights_sha256(payload["state_dict"])
    if actual != payload["weights_sha256"]:
        raise GeneratorFileError(f"{where}: the weights' sha256 {actual[:16]}... does not match the recorded "
                                 f"{str(payload['weights_sha256'])[:16]}...; the file is damaged or was altered")
    return payload


@dataclass(frozen=True)
class Generator:
    """A rebuilt generator for inference: ``sample(n, seed)`` gives images in [0, 1]."""

    module: nn.Module
    config: TrialConfig
    low: float
    high: float
    info: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    package_version: str = ""

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def latents(self, n: int, seed: int = 0) -> torch.Tensor:
        from study.gan.samples import grid_latents

        return grid_latents(n, self.config.z_dim, self.config.z_dist, seed)

    def images(self, z: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float32 in [0, 1] on the CPU."""
        from study.gan.samples import generate

        return generate(self.module, z, self.low, self.high)

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        return self.images(self.latents(n, seed))


def build_generator(cfg: TrialConfig, classes: int = 0) -> tuple[nn.Module, float, float]:
    """An untrained generator of ``cfg``'s architecture and tricks, as the trial built it (its
    discriminator is dropped); ``classes``: a conditional generator's class count. A VBN
    generator's reference latents are a placeholder here: they are a buffer of the weights."""
    from study.gan.models import HEADS, ModelOptions, build_models
    from study.gan.models.registry import VBN_REFERENCE_SIZE

    cfg = cfg.validated()  # "auto" choices resolved, as the trial resolved them
    head = HEADS.get(cfg.g_head)
    options = ModelOptions.from_config(cfg, head=head, head_stats=None, classes=classes,
                                       z_ref=torch.zeros(VBN_REFERENCE_SIZE, cfg.z_dim))
    g, _ = build_models(cfg.architecture, options)
    return g, head.low, head.high


def generator_from_payload(payload: Mapping[str, Any], device: torch.device | str | None = None,
                           where: str = "generator file") -> Generator:
    try:
        cfg = TrialConfig.from_dict(payload["config"], where=f"{where}: config")
    except (ConfigError, TypeError) as e:
        raise GeneratorFileError(f"{where}: its config is not valid here: {e}") from None
    info = payload.get("info") if isinstance(payload.get("info"), dict) else {}
    module, low, high = build_generator(cfg, int(info.get("classes", 0) or 0))
    try:
        module.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:500]
        raise GeneratorFileError(f"{where}: the weights do not fit the generator its config builds "
                                 f"(architecture={cfg.architecture}, resolution={cfg.resolution}, width={cfg.width}, "
                                 f"z_dim={cfg.z_dim}, g_norm={cfg.g_norm}, g_head={cfg.g_head}): {detail}") from None
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    module = module.to(device).eval()
    module.requires_grad_(False)
    return Generator(module, cfg, low, high, dict(payload.get("info", {})), payload["weights_sha256"],
                     str(payload.get("package_version", "")))


def read_bytes(path: str) -> bytes:
    """A local path or any URI pyarrow's filesystems read (s3://, gs://, file://)."""
    if "://" not in str(path):
        with open(path, "rb") as f:
            return f.read()
    import pyarrow.fs as pafs

    fs, inner = pafs.FileSystem.from_uri(str(path))
    with fs.open_input_stream(inner) as f:
        return f.read()


def load_generator(path: str, device: torch.device | str | None = None) -> Generator:
    """Rebuild the generator of a file written by ``gan-study export`` (or kept by a study) on
    ``device`` (default: CUDA when present, else CPU), in eval mode, refusing a file that does
    not match its own digest or config (GeneratorFileError)."""
    where = str(path)
    return generator_from_payload(read_payload(read_bytes(where), where), device, where)
