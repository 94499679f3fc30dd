"""The typed, frozen configuration of one trial (one GAN training run).

Validated once, at the boundary (``TrialConfig.from_dict``); everything inside trusts it.
Errors name the field, the value and what is allowed. ``key()`` is a stable identity derived
from the full config, so a re-run or a resumed study finds the same trial.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any, Mapping

STEP_UNITS = ("discriminator", "generator")
Z_DISTRIBUTIONS = ("normal", "uniform")
SPLITS = ("train", "test")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A study or trial setting is invalid; the message names the field."""


@dataclass(frozen=True)
class TrialConfig:
    # data
    dataset: str = "digits"
    resolution: int = 16
    channels: int = 1
    # models
    architecture: str = "dcgan"
    width: float = 1.0
    loss: str = "ns"
    penalty: str = "none"
    penalty_lambda: float = 0.0
    d_norm: str = "none"
    g_norm: str = "bn"
    g_head: str = "tanh"
    z_dim: int = 128
    z_dist: str = "normal"
    # optimisation (Adam)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_dis: int = 1
    batch_size: int = 64
    steps: int = 1000
    step_unit: str = "discriminator"  # compare_gan v2 and Kurach et al. count D steps
    # evaluation
    eval_every: int = 500
    eval_split: str = "test"
    eval_samples: int = 0  # 0: as many generated samples as real images in the split
    feature_extractor: str = "digits"
    # execution
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    # ---- validation -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "trial") -> "TrialConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown setting; allowed: {', '.join(sorted(known))}")
        coerced = {name: _coerce(f"{where}.{name}", known[name].type, v) for name, v in values.items()}
        return cls(**coerced).validated(where)

    def validated(self, where: str = "trial") -> "TrialConfig":
        from study.data import DATASETS
        from study.losses import LOSSES
        from study.metrics.extractors import EXTRACTORS
        from study.models import ARCHITECTURES, HEADS
        from study.normalizers import NORMALIZERS
        from study.penalties import PENALTIES

        def check(name: str, ok: bool, allowed: str) -> None:
            if not ok:
                raise ConfigError(f"{where}.{name}: invalid value {getattr(self, name)!r}; allowed: {allowed}")

        for name, registry in (("dataset", DATASETS), ("architecture", ARCHITECTURES), ("loss", LOSSES),
                               ("penalty", PENALTIES), ("d_norm", NORMALIZERS), ("g_norm", NORMALIZERS),
                               ("g_head", HEADS), ("feature_extractor", EXTRACTORS)):
            check(name, getattr(self, name) in registry, ", ".join(registry.names()))
        for name, choices in (("step_unit", STEP_UNITS), ("z_dist", Z_DISTRIBUTIONS),
                              ("eval_split", SPLITS), ("device", DEVICES)):
            check(name, getattr(self, name) in choices, ", ".join(choices))
        arch = ARCHITECTURES.get(self.architecture)
        check("resolution", self.resolution in arch.resolutions, f"{list(arch.resolutions)} for {self.architecture}")
        check("channels", self.channels in (1, 3), "1 or 3")
        check("width", 0 < self.width <= 16, "0 < width <= 16")
        check("lr", 0 < self.lr < 1, "0 < lr < 1")
        check("beta1", 0 <= self.beta1 < 1, "0 <= beta1 < 1")
        check("beta2", 0 <= self.beta2 < 1, "0 <= beta2 < 1")
        check("penalty_lambda", self.penalty_lambda >= 0, ">= 0")
        for name in ("z_dim", "n_dis", "batch_size", "steps", "eval_every", "threads"):
            check(name, getattr(self, name) >= 1, "an integer >= 1")
        check("eval_samples", self.eval_samples >= 0, ">= 0 (0: as many as the real split)")
        check("seed", self.seed >= 0, "an integer >= 0")
        # Lambda is meaningless without a penalty: canonicalise so equal trials share a key.
        if self.penalty == "none" and self.penalty_lambda != 0.0:
            return dataclasses.replace(self, penalty_lambda=0.0)
        return self

    # ---- identity ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self, *context: str) -> str:
        """Stable 16-hex-digit identity of this config (plus context such as study and phase).

        Execution-only settings (device, threads) do not change what is computed, so they are
        left out: a study resumed on other hardware finds the same keys.
        """
        identity = {k: v for k, v in self.to_dict().items() if k not in ("device", "threads")}
        blob = json.dumps([list(context), identity], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _coerce(field: str, typ: Any, value: Any) -> Any:
    """Accept YAML's natural spellings (1e-4 as str, 5 for 5.0) but never silently truncate."""
    typ = typ if isinstance(typ, str) else typ.__name__
    if typ == "str":
        if isinstance(value, str):
            return value
    elif typ == "int":
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            return value
        elif isinstance(value, float) and value.is_integer():
            return int(value)
    elif typ == "float":
        if isinstance(value, bool):
            pass
        elif isinstance(value, (int, float)):
            return float(value)
        elif isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise ConfigError(f"{field}: expected {typ}, got {value!r} ({type(value).__name__})")
