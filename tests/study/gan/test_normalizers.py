"""Normalizers against their definitions."""
import pytest
import torch
from torch import nn

from study.gan.normalizers import NORMALIZERS


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
    assert (torch.linalg.svdvals(conv.parametrizations.weight.original.detach().reshape(16, -1))[0]
            != pytest.approx(1.0, abs=0.05))


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


def test_weight_norm_is_g_times_v_over_its_norm_per_output_unit():
    layer = NORMALIZERS.get("wn").wrap(nn.Conv2d(2, 3, 3))
    g = layer.parametrizations.weight.original0.detach()
    v = layer.parametrizations.weight.original1.detach()
    expected = g * v / v.reshape(3, -1).norm(dim=1).view(3, 1, 1, 1)
    assert torch.allclose(layer.weight, expected, atol=1e-6)
    # for transposed convolutions the output units are dim 1
    t = NORMALIZERS.get("wn").wrap(nn.ConvTranspose2d(2, 3, 4))
    assert t.parametrizations.weight.original0.shape == (1, 3, 1, 1)


def test_strict_weight_norm_hidden_layers_are_unit_norm_without_bias_and_use_tprelu():
    from study.gan.normalizers import TPReLU

    swn = NORMALIZERS.get("swn")
    hidden = swn.wrap(nn.Conv2d(2, 3, 3))
    assert hidden.bias is None
    assert torch.allclose(hidden.weight.reshape(3, -1).norm(dim=1), torch.ones(3), atol=1e-6)
    assert [n for n, _ in hidden.named_parameters()] == ["parametrizations.weight.original"]  # no learned scale
    last = swn.wrap(nn.Conv2d(2, 3, 3), last=True)
    assert last.bias is not None and hasattr(last.parametrizations.weight, "original0")  # affine WN
    assert isinstance(swn.activation(3, nn.ReLU), TPReLU)
    assert isinstance(NORMALIZERS.get("bn").activation(3, nn.ReLU), nn.ReLU)


def test_tprelu_formula():
    from study.gan.normalizers import TPReLU

    act = TPReLU(2)
    with torch.no_grad():
        act.bias.copy_(torch.tensor([1.0, -2.0]))
        act.prelu.weight.copy_(torch.tensor([0.1, 0.5]))
    x = torch.tensor([0.0, 3.0, -1.0]).view(1, 1, 3).expand(1, 2, 3).contiguous()
    # y = PReLU(x - b) + b. channel 0 (b=1, a=0.1): x-b = -1, 2, -2 -> -0.1, 2, -0.2 -> 0.9, 3, 0.8
    # channel 1 (b=-2, a=0.5): x-b = 2, 5, 1 -> unchanged -> 0, 3, -1
    assert torch.allclose(act(x), torch.tensor([[[0.9, 3.0, 0.8], [0.0, 3.0, -1.0]]]), atol=1e-6)


def test_layer_norm_standardises_each_example():
    ln = NORMALIZERS.get("ln").feature_norm(4)
    x = torch.randn(3, 4, 5, 5) * 3 + 2
    y = ln(x)
    assert torch.allclose(y.mean((1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.var((1, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
