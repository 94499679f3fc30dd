"""Which trials may train together: same model, differing only in hyperparameters and seed.

A fused group (study/gan/fused/group.py) shares one architecture, loss, penalty, normalizers,
batch size, n_dis schedule, step count, evaluation protocol and data; its members may differ in
``MEMBER_FIELDS`` (Adam's rates and betas, the penalty's lambda, the seed) and in what only
says where a trial runs. The tricks that draw per-example randomness from the global stream
or add per-member state a stacked step does not carry yet, and channels-last layouts, train
alone (``unfusable``).
"""
from __future__ import annotations

import json

from study.gan.config import EXECUTION_ONLY, TrialConfig

MEMBER_FIELDS = ("lr", "lr_d", "beta1", "beta2", "penalty_lambda", "seed")


def unfusable(cfg: TrialConfig) -> str:
    """Why ``cfg`` cannot join a fused group ("" when it can)."""
    reasons = [name for name, on in (
        ("feature_matching", cfg.feature_matching > 0), ("historical_averaging", cfg.historical_averaging > 0),
        ("label_noise", cfg.label_noise), ("label_flip", cfg.label_flip > 0),
        ("instance_noise", cfg.instance_noise > 0), ("d_minibatch", cfg.d_minibatch != "none"),
        ("g_dropout", cfg.g_dropout > 0), ("conditional", cfg.conditional), ("g_norm", cfg.g_norm == "vbn"),
        ("channels_last", cfg.channels_last),  # stacked (members, N, C, H, W) tensors have no such layout
    ) if on]
    return f"{', '.join(reasons)} not fused yet (trains alone)" if reasons else ""


def fusion_key(cfg: TrialConfig) -> str:
    """Equal for trials that may share a group (and only for those)."""
    shared = {k: v for k, v in cfg.to_dict().items() if k not in MEMBER_FIELDS and k not in EXECUTION_ONLY}
    return json.dumps(shared, sort_keys=True)


def groups(configs: list[TrialConfig], size: int) -> list[list[int]]:
    """Indices of ``configs`` in groups of at most ``size`` fusable members of one key, in order
    of first appearance; an unfusable config is a group of its own."""
    out: list[list[int]] = []
    open_: dict[str, list[int]] = {}
    for i, cfg in enumerate(configs):
        if size <= 1 or unfusable(cfg):
            out.append([i])
            continue
        key = fusion_key(cfg)
        if key not in open_ or len(open_[key]) >= size:
            open_[key] = []
            out.append(open_[key])
        open_[key].append(i)
    return out
