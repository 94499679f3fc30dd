"""Reconstruction error (Xiang and Li 2017, Sec. 4): how well a frozen generator can reproduce
held-out images.

For each test image, the latent code starts at the zero vector and is optimised by RMSProp
(their code: lr 0.01, alpha 0.9, eps 1e-6) to minimise the squared error between G(z) and the
image, the generator frozen and in eval mode; the score is the mean squared error per pixel and
channel, images in [0, 1], averaged over the images after the last step. Fewer steps while
monitoring (50), more for a final evaluation.
"""
from __future__ import annotations

import torch
from torch import nn


def reconstruction_error(generator: nn.Module, images: torch.Tensor, z_dim: int, low: float, high: float,
                         steps: int = 50, lr: float = 0.01, batch_size: int = 256) -> float:
    """``images`` in [0, 1]; ``low``/``high``: the generator's output range."""
    was_training = generator.training
    generator.eval()
    flags = [p.requires_grad for p in generator.parameters()]
    generator.requires_grad_(False)
    device = next(generator.parameters()).device
    total, count = 0.0, 0
    try:
        for i in range(0, len(images), batch_size):
            target = images[i : i + batch_size].to(device).float()
            z = torch.zeros(len(target), z_dim, device=device, requires_grad=True)
            opt = torch.optim.RMSprop([z], lr=lr, alpha=0.9, eps=1e-6)
            for _ in range(steps):
                out = (generator(z) - low) / (high - low)
                # sum over images of their per-pixel MSE: each latent gets its own gradient
                loss = ((out - target) ** 2).flatten(1).mean(1).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                out = (generator(z) - low) / (high - low)
                total += ((out - target) ** 2).flatten(1).mean(1).sum().item()
                count += len(target)
    finally:
        for p, f in zip(generator.parameters(), flags):
            p.requires_grad_(f)
        generator.train(was_training)
    return total / count
