"""The best models of Kurach et al. 2019 (36 rows: SNDCGAN, ResNet19, ResNet CIFAR on CIFAR-10,
CelebA-HQ-128 and LSUN-bedroom), from ``kurach2019_best_models.csv`` (hyperparameters and the
paper's FID; ``training_steps`` in discriminator steps, as compare_gan v2 counts them), as a grid
preset whose rows carry whole trial settings: dataset, resolution, architecture, loss, penalty,
normalizer, Adam, steps, seed, and ``paper_fid`` (kept in the rows beside ours; it changes
nothing that is computed). Rows the table repeats (a model best in two groupings) are one trial.
"""
from __future__ import annotations

import csv
from pathlib import Path

CSV = Path(__file__).with_name("kurach2019_best_models.csv")
DATASETS = {"cifar10": ("cifar10", 32), "celebahq128": ("celeba_hq", 128), "lsun-bedroom": ("lsun_bedroom", 128)}
# The table's loss names -> ours: its LS is compare_gan's least squares on sigmoid(D).
LOSSES = {"ns": "ns", "ls": "ls_sigmoid", "wgan": "wgan", "hinge": "hinge"}


def _row(r: dict[str, str]) -> dict[str, float | int | str]:
    dataset, resolution = DATASETS[r["dataset"]]
    return {"dataset": dataset, "resolution": resolution, "channels": 3, "architecture": r["architecture"],
            "loss": LOSSES[r["loss"]], "penalty": r["penalty"], "d_norm": r["d_normalization"], "lr": float(r["lr"]),
            "beta1": float(r["beta1"]), "beta2": float(r["beta2"]), "n_dis": int(r["n_dis"]),
            "penalty_lambda": float(r["penalty_lambda"]), "seed": int(r["seed"]),
            "steps": int(r["training_steps"]), "batch_size": int(r["batch_size"]), "z_dim": int(r["z_dim"]),
            "paper_fid": float(r["paper_fid"])}


with CSV.open() as f:
    BEST_MODELS: tuple[dict[str, float | int | str], ...] = tuple(_row(r) for r in csv.DictReader(f))
