"""A small CNN digits classifier shipped with the package as a fast FID feature extractor.

For CPU studies on the embedded digits, Inception features are far too slow and meaningless
on 8x8 strokes; a classifier trained on the same data gives a feature space in which a
Frechet distance is informative (the "FD in a domain classifier's features" used for MNIST
GANs). Inputs in [0, 1] of any resolution and channel count are averaged to gray, resized to
16x16 and standardised; the features are the 64-d penultimate layer before its ReLU.

The weights in ``weights/digits_classifier.pt`` were produced by
``python -m study.gan.metrics.train_digits_classifier`` (deterministic, CPU, ~1 minute).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS = Path(__file__).parent / "weights" / "digits_classifier.pt"
FEATURE_DIM = 64
INPUT_SIZE = 16


class DigitsClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(64 * 4 * 4, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        x = images.float().mean(dim=1, keepdim=True)
        if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > INPUT_SIZE)
        return (x - 0.5) / 0.5

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc1(self.conv(self.preprocess(images)).flatten(1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.features(images)))


@functools.lru_cache(maxsize=4)
def weights_sha256(path: Path = WEIGHTS) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=4)
def _load_cpu(path: str) -> DigitsClassifier:
    model = DigitsClassifier()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def load_digits_classifier(device: torch.device | str = "cpu", path: Path = WEIGHTS) -> DigitsClassifier:
    if not path.exists():
        raise FileNotFoundError(f"digits classifier weights missing at {path}; "
                                "run: python -m study.gan.metrics.train_digits_classifier")
    model = _load_cpu(str(path))
    return model if torch.device(device).type == "cpu" else _copy_to(model, device)


def _copy_to(model: DigitsClassifier, device: torch.device | str) -> DigitsClassifier:
    clone = DigitsClassifier()
    clone.load_state_dict(model.state_dict())
    return clone.to(device).eval().requires_grad_(False)
