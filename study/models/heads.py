"""Generator output heads: the last activation and the data range it implies.

- ``tanh``: outputs in [-1, 1] (Radford et al. 2016); the data are scaled to [-1, 1].
- ``sigmoid``: outputs in [0, 1] (compare_gan); the data are scaled to [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from study.registry import Registry


@dataclass(frozen=True)
class Head:
    name: str
    low: float
    high: float
    make: Callable[[int], nn.Module]


HEADS: Registry[Head] = Registry("generator head")
HEADS.register("tanh")(Head("tanh", -1.0, 1.0, lambda channels: nn.Tanh()))
HEADS.register("sigmoid")(Head("sigmoid", 0.0, 1.0, lambda channels: nn.Sigmoid()))
