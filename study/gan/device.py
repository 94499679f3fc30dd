"""The one place that picks the device a trial runs on."""
from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or when asked for), else CPU.

    ``preference`` is ``auto``, ``cpu`` or ``cuda``; asking for CUDA on a machine without it
    is an error rather than a silent fallback.
    """
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device: 'cuda' was requested but torch sees no CUDA device")
        return torch.device("cuda")
    if preference != "auto":
        raise ValueError(f"device: unknown value {preference!r}; allowed: auto, cpu, cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"
