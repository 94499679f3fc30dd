"""Importing torchvision (and what imports it: timm, the oracles) beside a CPU build of torch.

The package index's torchvision wheel is a CUDA build. Its compiled operators (``nms``,
``roi_align``, ...) do not load beside the CPU torch this project installs, and importing
torchvision then fails in ``torchvision/_meta_registrations.py``, which registers meta kernels
for those operators: ``RuntimeError: operator torchvision::nms does not exist``. Nothing here
uses the compiled operators: timm's ViTs, the transforms and the oracles' Inception-v3 are
plain Python and torch. So when the first import fails that way, the half-imported torchvision
modules are dropped, that one registration module is stood in for by an empty module, and the
import is tried again. With a matching torchvision (a GPU machine, a CPU wheel) the first import
succeeds and nothing is changed.
"""
from __future__ import annotations

import importlib
import sys
import types
from types import ModuleType

META = "torchvision._meta_registrations"


def import_torchvision() -> ModuleType:
    """torchvision, imported without its compiled operators' meta kernels when those do not load.
    ImportError when it is not installed."""
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as e:  # "operator torchvision::nms does not exist"
        if "torchvision::" not in str(e):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules[META] = types.ModuleType(META)
    return importlib.import_module("torchvision")


def import_timm() -> ModuleType:
    """timm (which imports torchvision at its own import), through ``import_torchvision``."""
    import_torchvision()
    return importlib.import_module("timm")
