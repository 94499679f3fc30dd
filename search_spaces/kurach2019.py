"""Search spaces of Kurach et al. 2019, "A Large-Scale Study on Regularization and
Normalization in GANs" (ICML), Tables 1 and 2.

``LITERATURE_GRID``: the 24 fixed settings of Table 1, the Cartesian product of
lr in {2e-4, 1e-4, 1e-3}, lambda in {1, 10} and (beta1, beta2, n_dis) in
{(0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5)}, in that order
(index = ((lr_i * 2) + lambda_i) * 4 + adam_i).

``bo_space(lambda_range)``: Table 2's ranges for sequential Bayesian optimisation: lr in
[1e-5, 1e-2] log; lambda in the penalty's own range, log (Table 2: [1e-4, 1e1] for L2,
[1e-1, 1e2] for the others; each penalty's registry entry carries it; absent without a
penalty); beta1, beta2 uniform in [0, 1]. Adam rejects beta = 1, so the upper end is 0.9999.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

LEARNING_RATES = (0.0002, 0.0001, 0.001)
LAMBDAS = (1.0, 10.0)
ADAM_SETTINGS = ((0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5))

LITERATURE_GRID: tuple[dict[str, float | int], ...] = tuple(
    {"lr": lr, "penalty_lambda": lam, "beta1": b1, "beta2": b2, "n_dis": n_dis}
    for lr, lam, (b1, b2, n_dis) in itertools.product(LEARNING_RATES, LAMBDAS, ADAM_SETTINGS)
)

BETA_HIGH = 0.9999


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool


def bo_space(lambda_range: tuple[float, float] | None) -> dict[str, Range]:
    """The searched ranges; ``lambda_range`` is the penalty's (None: no penalty, no lambda)."""
    space = {"lr": Range(1e-5, 1e-2, True), "beta1": Range(0.0, BETA_HIGH, False),
             "beta2": Range(0.0, BETA_HIGH, False)}
    if lambda_range is not None:
        space["penalty_lambda"] = Range(lambda_range[0], lambda_range[1], True)
    return space


from search_spaces.kurach2019_best import BEST_MODELS  # noqa: E402
from search_spaces.sngan import ADAM_SETTINGS  # noqa: E402

# Grid presets by name: Table 1; SN-GAN's Adam settings A-F; the paper's best models (rows with
# whole trial settings, see kurach2019_best.py).
GRIDS = {"kurach2019": LITERATURE_GRID, "sngan_adam": ADAM_SETTINGS, "kurach2019_best": BEST_MODELS}
BO_SPACES = {"kurach2019": bo_space}
