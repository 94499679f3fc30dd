"""Adam settings A-F of Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks" (ICLR), Section 4: (lr, beta1, beta2, n_dis)."""
from __future__ import annotations

SETTINGS = {
    "A": (1e-4, 0.5, 0.9, 5),
    "B": (1e-4, 0.5, 0.999, 1),
    "C": (2e-4, 0.5, 0.999, 1),
    "D": (1e-3, 0.5, 0.9, 5),
    "E": (1e-3, 0.5, 0.999, 5),
    "F": (1e-3, 0.9, 0.999, 5),
}
# A grid preset: one row per setting, in the order A..F (grid.select indexes it)
ADAM_SETTINGS: tuple[dict[str, float | int], ...] = tuple(
    {"lr": lr, "beta1": b1, "beta2": b2, "n_dis": n_dis} for lr, b1, b2, n_dis in SETTINGS.values())
