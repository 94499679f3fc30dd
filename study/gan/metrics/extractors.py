"""Feature extractors for Frechet distances, registered by name.

An extractor's module maps images in [0, 1], shape (N, C, H, W), to (N, d) features with
``.features(images)``, and to class logits with ``.logits(images)`` where it has a classifier
head (needed for the Inception Score).

- ``digits``: the small classifier shipped with the package (64-d features, 10 logits); fast,
  CPU, for studies on the embedded digits.
- ``inception``: Inception-v3 with the TF 2015-12-05 weights, pool3 2048-d features, the input
  prepared as in study.gan.metrics.preprocess; the weights file is sha256-checked
  (study.gan.metrics.inception_weights). The fid-helper TorchScript carries no logits, so the
  Inception Score is not available with it.
- ``dinov2_vits14``, ``dinov2_vitb14``, ``dinov2_vitl14``, ``dinov2_vitg14``: DINOv2 ViTs (timm),
  the normed CLS token (384- to 1536-d), dgm-eval's preprocessing, the weights from a file the
  user provides (study.gan.metrics.dinov2); no logits.

Each extractor's ``check(weights)`` verifies its weights without building the network and
returns their identity (sha256); ``check_spaces`` runs it for a trial's feature spaces before
any trial starts. ``weights`` is ``trial.feature_weights`` ("": the extractor's own lookup).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from study.gan.registry import Registry


@dataclass(frozen=True)
class Extractor:
    name: str
    load: Callable[..., nn.Module]  # (device, resize mode, weights="") -> module with .identity
    batch_size: int
    check: Callable[[str], str]  # (weights) -> their identity, or a WeightsError; builds no network


EXTRACTORS: Registry[Extractor] = Registry("feature extractor")


def _digits_identity(weights: str = "") -> str:
    from study.gan.metrics.digits_classifier import weights_sha256

    return weights_sha256()  # shipped with the package (TrialConfig refuses a feature_weights for it)


def _load_digits(device: torch.device, resize: str, weights: str = "") -> nn.Module:
    from study.gan.metrics.digits_classifier import load_digits_classifier

    model = load_digits_classifier(device)
    model.identity = _digits_identity()
    return model


class InceptionPool3(nn.Module):
    """An Inception network behind the reference preprocessing: the TorchScript port (pool3
    only) or the eager FIDInceptionV3 (pool3 and logits). ``dtype`` is the precision the network
    runs in (the input is prepared in float32 either way)."""

    def __init__(self, net: nn.Module, resize: str, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.net, self.resize, self.dtype = net, resize, dtype
        self.has_logits = bool(getattr(net, "has_logits", False))
        self._cast: dict[torch.dtype, nn.Module] = {}  # the network's weights in another precision

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        from study.gan.metrics.preprocess import inception_input

        return inception_input(images, self.resize).to(self.dtype)

    def _network(self) -> nn.Module:
        """The network with its weights in ``dtype``: input and weights must agree (an eager
        float32 network fed bf16 raises on CUDA), so a reduced precision gets its own cast copy,
        made once; float32 uses the network itself."""
        if self.dtype == torch.float32:
            return self.net
        if self.dtype not in self._cast:
            self._cast[self.dtype] = copy.deepcopy(self.net).to(self.dtype)
        return self._cast[self.dtype]

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        x, net = self._input(images), self._network()
        return (net.features(x) if hasattr(net, "features") else net(x)).float()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.has_logits:
            raise RuntimeError("this Inception file carries no classifier: no logits")
        return self._network()(self._input(images)).float()


FAST_DTYPES = (torch.bfloat16, torch.float16)
FAST_TOLERANCE = 1e-3  # largest relative change of FID a faster precision may cause


@torch.no_grad()
def choose_precision(model: InceptionPool3, real: torch.Tensor, other: torch.Tensor,
                     candidates: tuple[torch.dtype, ...] = FAST_DTYPES,
                     tolerance: float = FAST_TOLERANCE) -> tuple[torch.dtype, dict[str, float]]:
    """The first of ``candidates`` whose FID between ``real`` and ``other`` is within
    ``tolerance`` (relative) of the float32 FID, else float32; and the relative change each showed.
    Sets ``model.dtype`` to the choice."""
    from study.gan.metrics.frechet import feature_statistics, frechet_distance

    def fid(dtype: torch.dtype) -> float:
        model.dtype = dtype
        a, b = (feature_statistics(model.features(x).double().cpu().numpy()) for x in (real, other))
        return frechet_distance(*a, *b)

    reference = fid(torch.float32)
    changes: dict[str, float] = {}
    for dtype in candidates:
        changes[str(dtype).removeprefix("torch.")] = change = abs(fid(dtype) - reference) / abs(reference)
        if change <= tolerance:
            model.dtype = dtype
            return dtype, changes
    model.dtype = torch.float32
    return torch.float32, changes


def load_pytorch_fid_state_dict(path: str, device: str = "cpu") -> nn.Module:
    """FIDInceptionV3 from pytorch-fid's state dict; every parameter must be present."""
    from study.gan.metrics.inception_net import FIDInceptionV3

    model = FIDInceptionV3()
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"inception weights: {path} does not fit the FID Inception network "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval()


@functools.lru_cache(maxsize=4)
def _inception_net(path: str, kind: str, device: str) -> nn.Module:
    if kind == "pytorch_fid_state_dict":
        return load_pytorch_fid_state_dict(path, device)
    return torch.jit.load(path, map_location=device).eval()


def _inception_identity(weights: str = "") -> str:
    from study.gan.metrics import inception_weights

    return inception_weights.resolve(weights or None)[1].sha256


def _load_inception(device: torch.device, resize: str, weights: str = "") -> nn.Module:
    from study.gan.metrics import inception_weights

    path, known = inception_weights.resolve(weights or None)  # sha256 checked before loading
    model = InceptionPool3(_inception_net(str(path), known.kind, str(device)), resize)
    model.identity = known.sha256
    return model


def _dinov2(name: str, batch_size: int) -> Extractor:
    def load(device: torch.device, resize: str, weights: str = "") -> nn.Module:
        from study.gan.metrics import dinov2

        return dinov2.load(name, device, weights)

    def check(weights: str = "") -> str:
        from study.gan.metrics import dinov2

        return dinov2.check(name, weights)

    return Extractor(name, load, batch_size, check)


EXTRACTORS.register("digits")(Extractor("digits", _load_digits, 1024, _digits_identity))
EXTRACTORS.register("inception")(Extractor("inception", _load_inception, 50, _inception_identity))
for _name, _batch in (("dinov2_vits14", 64), ("dinov2_vitb14", 64), ("dinov2_vitl14", 32), ("dinov2_vitg14", 16)):
    EXTRACTORS.register(_name)(_dinov2(_name, _batch))
FD_DINOV2 = "dinov2_vitl14"  # the space of the fd_dinov2 metric (dgm-eval's default encoder)


def space_weights(cfg) -> dict[str, tuple[str, str]]:
    """A trial's feature spaces: column -> (extractor, weights), for ``cfg`` (a TrialConfig): the
    main extractor with trial.feature_weights, and with ``fd_dinov2`` DINOv2 ViT-L/14 (with
    trial.feature_weights when that is the main extractor, else its environment variable)."""
    spaces = {"feature_weights_sha256": (cfg.feature_extractor, cfg.feature_weights)}
    if "fd_dinov2" in cfg.metric_set():
        spaces["fd_dinov2_weights_sha256"] = (
            FD_DINOV2, cfg.feature_weights if cfg.feature_extractor == FD_DINOV2 else "")
    return spaces


def check_spaces(cfg) -> dict[str, str]:
    """Before any trial starts: every feature space of ``cfg`` can load (its package importable,
    its weights file there and of its architecture), else a ConfigError naming the field, the
    value and what is allowed. Returns column -> the weights' identity (sha256)."""
    from study.gan.errors import ConfigError
    from study.gan.metrics.inception_weights import WeightsError

    out = {}
    for column, (name, weights) in space_weights(cfg).items():
        field = "trial.feature_extractor" if column == "feature_weights_sha256" else "trial.metrics"
        try:
            out[column] = EXTRACTORS.get(name).check(weights)
        except WeightsError as e:
            what = name if column == "feature_weights_sha256" else (
                f"fd_dinov2 (in {name} space, with the weights of $GAN_STUDY_DINOV2_WEIGHTS, or of "
                f"trial.feature_weights when feature_extractor is {name})")
            raise ConfigError(f"{field}: {what} cannot be computed: {e}") from None
    return out


@torch.no_grad()
def extract(extractor: Extractor, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Features of ``images`` (float in [0, 1], or uint8 converted per batch) in batches, as float64 on the CPU."""
    from study.gan.data.registry import as_unit

    out = [model.features(as_unit(images[i : i + extractor.batch_size])).double().cpu()
           for i in range(0, len(images), extractor.batch_size)]
    return torch.cat(out)


@torch.no_grad()
def extract_logits(extractor: Extractor, model: nn.Module, images: torch.Tensor) -> torch.Tensor | None:
    if not getattr(model, "has_logits", True):
        return None
    from study.gan.data.registry import as_unit

    return torch.cat([model(as_unit(images[i : i + extractor.batch_size])).double().cpu()
                      for i in range(0, len(images), extractor.batch_size)])
