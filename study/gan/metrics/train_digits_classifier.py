"""Train the shipped digits feature extractor: ``python -m study.gan.metrics.train_digits_classifier``.

Deterministic on CPU (seed 0). Trains on the fixed train split rendered at 8, 16 and 32 px
(so the extractor sees the resizes it will meet), with random 1-pixel shifts, Adam 1e-3,
30 epochs, batch 64. Prints the held-out accuracy and writes ``weights/digits_classifier.pt``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from study.gan.data.digits import load_digits_dataset
from study.gan.metrics.digits_classifier import WEIGHTS, DigitsClassifier


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def accuracy(model: DigitsClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def train(epochs: int = 30, seed: int = 0) -> tuple[DigitsClassifier, float]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    sets = [load_digits_dataset(r, 1) for r in (8, 16, 32)]
    model = DigitsClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        model.train()
        for data in sets:
            x = DigitsClassifier.preprocess(data.train) * 0.5 + 0.5  # back to [0, 1] at 16 px
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), 64):
                idx = perm[i : i + 64]
                loss = F.cross_entropy(model(_shift(x[idx], gen)), data.train_labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.eval()
    test = sets[1]
    return model, accuracy(model, test.test, test.test_labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    model, acc = train(args.epochs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"held-out accuracy {acc:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
