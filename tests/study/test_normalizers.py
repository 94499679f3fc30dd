"""Normalizers against their definitions."""
import pytest
import torch
from torch import nn

from study.normalizers import NORMALIZERS


def test_spectral_norm_reaches_unit_largest_singular_value():
    torch.manual_seed(0)
    conv = NORMALIZERS.get("sn").wrap(nn.Conv2d(8, 16, 3))
    conv.train()
    x = torch.randn(2, 8, 5, 5)
    for _ in range(30):  # one power iteration per forward pass, persistent u
        conv(x)
    w = conv.weight.detach().reshape(16, -1)
    sigma = torch.linalg.svdvals(w)[0].item()
    assert sigma == pytest.approx(1.0, abs=1e-2)
    # and the raw weight really had a different scale
    assert torch.linalg.svdvals(conv.parametrizations.weight.original.detach().reshape(16, -1))[0] != pytest.approx(1.0, abs=0.05)


def test_batch_norm_standardises_each_channel():
    bn = NORMALIZERS.get("bn").feature_norm(3).train()
    x = torch.randn(16, 3, 4, 4) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + 7.0
    y = bn(x)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.var((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)


def test_none_is_the_identity():
    layer = nn.Linear(3, 2)
    norm = NORMALIZERS.get("none")
    assert norm.wrap(layer) is layer
    x = torch.randn(4, 2, 3, 3)
    assert torch.equal(norm.feature_norm(2)(x), x)


@pytest.mark.parametrize("name", NORMALIZERS.names())
def test_every_normalizer_keeps_shapes_and_gradients(name):
    norm = NORMALIZERS.get(name)
    net = nn.Sequential(norm.wrap(nn.Conv2d(2, 4, 3, padding=1)), norm.feature_norm(4))
    x = torch.randn(3, 2, 6, 6)
    y = net(x)
    y.sum().backward()
    assert y.shape == (3, 4, 6, 6)
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
