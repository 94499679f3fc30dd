"""Penalties against analytic values."""
import pytest
import torch
from torch import nn

from study.penalties import PENALTIES


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so GP = (||w|| - 1)^2 exactly."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1) + 0.5


def test_gradient_penalty_of_a_linear_discriminator():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0])  # ||w|| = 5 -> (5 - 1)^2 = 16
    d = Linear(w)
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    gp = PENALTIES.get("gp")(d, real, fake, torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(16.0, rel=1e-6)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * w / 5
    gp.backward()
    assert torch.allclose(d.w.grad, 8.0 * w / 5.0, atol=1e-5)


def test_gradient_penalty_interpolates_between_real_and_fake():
    # D(x) = sum(x^2)/2 has gradient x: the penalty sees the interpolates themselves.
    class Square(nn.Module):
        def forward(self, x):
            return 0.5 * (x.flatten(1) ** 2).sum(1)

    real, fake = torch.ones(4, 1, 1, 3), torch.zeros(4, 1, 1, 3)
    gen = torch.Generator().manual_seed(1)
    alpha = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    expected = ((alpha.flatten() * 3**0.5 - 1) ** 2).mean()
    assert PENALTIES.get("gp")(Square(), real, fake, gen).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("name", PENALTIES.names())
def test_every_penalty_is_a_finite_scalar(name):
    d = Linear(torch.randn(4))
    out = PENALTIES.get(name)(d, torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2), torch.Generator().manual_seed(0))
    assert out.shape == () and torch.isfinite(out)


def test_no_penalty_is_zero():
    assert PENALTIES.get("none")(Linear(torch.randn(4)), torch.randn(2, 4), torch.randn(2, 4)).item() == 0.0
