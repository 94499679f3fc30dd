"""Which trials may train together, and which groups may step batched.

A group (study/gan/training/loop.py) is one model's trials: they share architecture, loss,
penalty, normalizers, batch size, n_dis schedule, step count, evaluation protocol, data and
tricks, and may differ in ``MEMBER_FIELDS`` (Adam's rates and betas, the penalty's lambda, the
seed) and in what only says where a trial runs (``config.EXECUTION_ONLY``). Any such group can
train: member by member always, and batched under vmap (study/gan/fused/batched.py) when
``unbatchable`` names nothing.
"""
from __future__ import annotations

import json

from study.gan.config import EXECUTION_ONLY, TrialConfig

MEMBER_FIELDS = ("lr", "lr_d", "beta1", "beta2", "penalty_lambda", "seed")


def unbatchable(cfg: TrialConfig) -> str:
    """Why ``cfg``'s group cannot step batched under vmap ("" when it can): tricks that draw
    per-example randomness inside the networks or from torch's global stream, or keep
    per-member state outside the networks, channels-last layouts (stacked 5-D tensors have
    none) and bf16 (functorch adds each layer's bias apart, which promotes activations to fp32)."""
    reasons = [name for name, on in (
        ("feature_matching", cfg.feature_matching > 0), ("historical_averaging", cfg.historical_averaging > 0),
        ("label_noise", cfg.label_noise), ("label_flip", cfg.label_flip > 0),
        ("instance_noise", cfg.instance_noise > 0), ("d_minibatch", cfg.d_minibatch != "none"),
        ("g_dropout", cfg.g_dropout > 0), ("conditional", cfg.conditional), ("g_norm", cfg.g_norm == "vbn"),
        ("channels_last", cfg.channels_last), ("precision", cfg.precision == "bf16"),
    ) if on]
    return f"{', '.join(reasons)} not batched (the members step one by one)" if reasons else ""


def fusion_key(cfg: TrialConfig) -> str:
    """Equal for trials that may share a group (and only for those)."""
    shared = {k: v for k, v in cfg.to_dict().items() if k not in MEMBER_FIELDS and k not in EXECUTION_ONLY}
    return json.dumps(shared, sort_keys=True)


def check_group(cfgs: list[TrialConfig]) -> None:
    """A group is one model's trials: refuse anything else, naming the member and the field."""
    if not cfgs:
        raise ValueError("fused group: no members")
    for i, cfg in enumerate(cfgs):
        if fusion_key(cfg) != fusion_key(cfgs[0]):
            first, this = cfgs[0].to_dict(), cfg.to_dict()
            differ = next(k for k in first if first[k] != this[k] and k in this)
            raise ValueError(f"fused group: member {i} differs from member 0 in {differ} "
                             f"({this[differ]!r} vs {first[differ]!r}); only {', '.join(MEMBER_FIELDS)} may differ")


def groups(configs: list[TrialConfig], size: int) -> list[list[int]]:
    """Indices of ``configs`` in groups of at most ``size`` members of one key, in order of first
    appearance."""
    out: list[list[int]] = []
    open_: dict[str, list[int]] = {}
    for i, cfg in enumerate(configs):
        if size <= 1:
            out.append([i])
            continue
        key = fusion_key(cfg)
        if key not in open_ or len(open_[key]) >= size:
            open_[key] = []
            out.append(open_[key])
        open_[key].append(i)
    return out
