"""Penalties against analytic values."""
import pytest
import torch
from torch import nn

from study.gan.penalties import PENALTIES, PenaltyInputs


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so GP = (sqrt(1e-4 + ||w||^2) - 1)^2
    exactly (compare_gan's slope)."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1) + 0.5


def test_gradient_penalty_of_a_linear_discriminator():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0])  # ||w||^2 = 25 -> s = sqrt(25.0001)
    d = Linear(w)
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    gp = PENALTIES.get("gp")(PenaltyInputs(d, real, fake, torch.Generator().manual_seed(0)))
    s = 25.0001**0.5
    assert gp.item() == pytest.approx((s - 1.0) ** 2, rel=1e-6)
    # d/dw (s - 1)^2 = 2 (s - 1) w / s
    gp.backward()
    assert torch.allclose(d.w.grad, 2.0 * (s - 1.0) * w / s, atol=1e-5)


def test_gradient_penalty_at_a_flat_discriminator_is_finite_and_one():
    # The 1e-4 keeps sqrt differentiable where the gradient vanishes: s = 0.01, (0.01 - 1)^2.
    d = Linear(torch.zeros(4))
    gp = PENALTIES.get("gp")(PenaltyInputs(d, torch.randn(3, 4), torch.randn(3, 4), torch.Generator().manual_seed(0)))
    assert gp.item() == pytest.approx(0.99**2, rel=1e-6)
    gp.backward()
    assert torch.isfinite(d.w.grad).all()


def test_gradient_penalty_in_compare_gans_units_through_sndcgans_input_map():
    # compare_gan's SNDCGAN takes images in [0, 1] and maps them to 2x - 1: a D linear after that
    # map, D(x) = <w, 2x - 1>, has gradient 2w in [0, 1] units, so GP = (sqrt(1e-4 + 4||w||^2) - 1)^2.
    from study.gan.models import HEADS, ModelOptions, build_models
    from study.gan.normalizers import NORMALIZERS

    _, d = build_models("sndcgan", ModelOptions(resolution=16, channels=1, z_dim=4, width=1 / 64,
                                                d_norm=NORMALIZERS.get("none"), g_norm=NORMALIZERS.get("bn"),
                                                head=HEADS.get("tanh01")))
    w = torch.tensor([0.3, -0.4, 0.0, 1.2])
    class Column(Linear):  # D's head returns (N, 1)
        def forward(self, x):
            return super().forward(x)[:, None]

    d.body, d.fc = nn.Identity(), Column(w)  # keep the input map, replace what follows by a linear D
    real = torch.rand(5, 1, 2, 2)
    gp = PENALTIES.get("gp")(PenaltyInputs(d, real, torch.rand(5, 1, 2, 2), torch.Generator().manual_seed(0), 0.0, 1.0))
    assert gp.item() == pytest.approx(((1e-4 + 4 * (w**2).sum().item()) ** 0.5 - 1.0) ** 2, rel=1e-6)
    assert d(real).tolist() == pytest.approx(((2 * real - 1).flatten(1) * w).sum(1).add(0.5).tolist(), rel=1e-6)


def test_gradient_penalty_interpolates_between_real_and_fake():
    # D(x) = sum(x^2)/2 has gradient x: the penalty sees the interpolates themselves.
    class Square(nn.Module):
        def forward(self, x):
            return 0.5 * (x.flatten(1) ** 2).sum(1)

    real, fake = torch.ones(4, 1, 1, 3), torch.zeros(4, 1, 1, 3)
    gen = torch.Generator().manual_seed(1)
    alpha = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    expected = (((1e-4 + 3 * alpha.flatten() ** 2).sqrt() - 1) ** 2).mean()
    assert (PENALTIES.get("gp")(PenaltyInputs(Square(), real, fake, gen)).item()
            == pytest.approx(expected.item(), rel=1e-6))


@pytest.mark.parametrize("name", PENALTIES.names())
def test_every_penalty_is_a_finite_scalar(name):
    d = Linear(torch.randn(4))
    inputs = PenaltyInputs(d, torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2), torch.Generator().manual_seed(0))
    out = PENALTIES.get(name)(inputs)
    assert out.shape == () and torch.isfinite(out)


def test_no_penalty_is_zero():
    assert PENALTIES.get("none")(PenaltyInputs(Linear(torch.randn(4)), torch.randn(2, 4),
                                               torch.randn(2, 4))).item() == 0.0


def test_dragan_perturbs_real_data_within_the_data_range():
    # D(x) = sum(x^2)/2: gradient = the perturbed point itself, so the penalty reveals it.
    class Square(nn.Module):
        def forward(self, x):
            return 0.5 * (x.flatten(1) ** 2).sum(1)

    real = torch.tensor([[[[0.0, 1.0]]], [[[1.0, 0.0]]]])  # biased std over the batch (tf.nn.moments) = 1/2
    gen = torch.Generator().manual_seed(5)
    u = torch.rand(real.shape, generator=torch.Generator().manual_seed(5))
    points = (real + 0.5 * (u - 0.5)).clamp(0.0, 1.0)
    expected = (((1e-4 + (points.flatten(1) ** 2).sum(1)).sqrt() - 1) ** 2).mean()
    got = PENALTIES.get("dragan")(PenaltyInputs(Square(), real, real, gen, 0.0, 1.0))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_l2_is_compare_gans_mean_over_layers_of_half_sum_of_squares():
    d = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 1))
    with torch.no_grad():
        d[0].weight.fill_(2.0)   # 2 weights: sum w^2 / 2 = 4
        d[3].weight.fill_(1.0)   # 2 weights: sum w^2 / 2 = 1
        d[0].bias.fill_(100.0)   # biases and BN are excluded
    got = PENALTIES.get("l2")(PenaltyInputs(d, torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)))
    assert got.item() == pytest.approx((4.0 + 1.0) / 2)


def test_l2_acts_on_the_raw_weight_under_spectral_norm():
    from study.gan.normalizers import NORMALIZERS

    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    d = NORMALIZERS.get("sn").wrap(layer)
    got = PENALTIES.get("l2")(PenaltyInputs(d, torch.zeros(1, 3), torch.zeros(1, 3)))
    assert got.item() == pytest.approx(6 * 9.0 / 2)


def test_ortho_is_zero_for_orthonormal_rows_and_matches_the_formula():
    d = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    inputs = PenaltyInputs(d, torch.zeros(1, 3), torch.zeros(1, 3))
    assert PENALTIES.get("ortho")(inputs).item() == pytest.approx(0.0)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    # W W^T = [[4, 2], [2, 2]]; minus I: [[3, 2], [2, 1]] -> 9 + 4 + 4 + 1 = 18
    assert PENALTIES.get("ortho")(inputs).item() == pytest.approx(18.0)
