"""Issue 14's tricks against values worked out by hand, their validation, and where they land."""
import dataclasses
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from study.gan.config import NEW_FIELD_DEFAULTS, ConfigError, TrialConfig
from study.gan.losses import LOSSES
from study.gan.models import HEADS, ModelOptions, build_models
from study.gan.models.conditional import ConditionalBatchNorm2d, ConditionalGenerator, ProjectionDiscriminator
from study.gan.models.minibatch import MinibatchDiscrimination, MinibatchStdDev
from study.gan.models.surgery import AlwaysDropout, checkerboard_warnings
from study.gan.normalizers import NORMALIZERS
from study.gan.tricks import HistoricalAverage, cross_entropy, feature_matching_loss, label_targets, target_d_loss
from study.gan.vbn import ReferenceBatch, VirtualBatchNorm2d

TRICK_FIELDS = ("feature_matching", "historical_averaging", "label_noise", "label_flip", "d_minibatch", "g_dropout",
                "conditional")


def build(arch="dcgan", res=16, d_norm="none", g_norm="bn", **kw):
    return build_models(arch, ModelOptions(resolution=res, channels=1, z_dim=4, width=1 / 16,
                                           d_norm=NORMALIZERS.get(d_norm), g_norm=NORMALIZERS.get(g_norm),
                                           head=HEADS.get("tanh"), **kw))


# ---- feature matching ------------------------------------------------------------------
def test_feature_matching_is_the_squared_distance_of_the_batch_means():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean (1, 1)
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(1.0 + 4.0)
    loss.backward()  # d/d fake_i = -2 (m_r - m_f) / n = -(1, 2) for each row
    assert torch.allclose(fake.grad, torch.tensor([[-1.0, -2.0], [-1.0, -2.0]]))


def test_feature_matching_uses_the_discriminators_features_on_a_tiny_network():
    _, d = build()
    x, y = torch.randn(3, 1, 16, 16), torch.randn(3, 1, 16, 16)
    fx, fy = d.features(x), d.features(y)
    assert fx.shape[1] == d.fc.in_features
    assert (feature_matching_loss(fx, fy).item()
            == pytest.approx(((fx.mean(0) - fy.mean(0)) ** 2).sum().item(), rel=1e-6))
    assert torch.allclose(d(x), d.fc(fx).squeeze(1))


# ---- minibatch layers ------------------------------------------------------------------
def test_minibatch_stddev_appends_the_mean_batch_std_as_one_feature():
    f = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # per-feature std over the batch (biased): 1 and 2
    out = MinibatchStdDev()(f)
    assert torch.allclose(out, torch.tensor([[1.0, 2.0, 1.5], [3.0, 6.0, 1.5]]), atol=1e-6)


def test_minibatch_stddev_on_a_map_averages_over_channels_and_positions():
    x = torch.zeros(2, 1, 1, 2)
    x[1, 0, 0] = torch.tensor([2.0, 4.0])  # stds over the batch: 1 and 2 at the two positions
    assert MinibatchStdDev()(x)[:, -1].tolist() == pytest.approx([1.5, 1.5])


def test_minibatch_discrimination_sums_exp_minus_l1_over_the_batch():
    mbd = MinibatchDiscrimination(2, kernels=1, dims=2)
    with torch.no_grad():
        mbd.T.copy_(torch.eye(2))  # M_i = f(x_i)
    f = torch.tensor([[0.0, 0.0], [1.0, 2.0]])  # L1 distance 3
    o = 1.0 + math.exp(-3.0)
    assert torch.allclose(mbd(f), torch.tensor([[0.0, 0.0, o], [1.0, 2.0, o]]))


@pytest.mark.parametrize("arch", ["dcgan", "sndcgan", "resnet_cifar"])
@pytest.mark.parametrize("kind,extra", [("stddev", 1), ("discrimination", 32)])
def test_minibatch_layer_sits_before_the_output_layer(arch, kind, extra):
    _, d = build(arch, d_minibatch=kind)
    x = torch.randn(4, 1, 16, 16)
    assert d.fc.linear.in_features == d.features(x).shape[1] + extra
    assert d(x).shape == (4,)


# ---- historical averaging --------------------------------------------------------------
def test_historical_average_penalty_by_hand():
    m = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(1.0)
    h = HistoricalAverage(m)  # theta[0] = 1
    assert h.penalty().item() == 0.0
    with torch.no_grad():
        m.weight.fill_(3.0)
    h.update()  # mean (1 + 3) / 2 = 2
    with torch.no_grad():
        m.weight.fill_(5.0)
    assert h.penalty().item() == pytest.approx(9.0)  # (5 - 2)^2
    h.update()
    assert h.mean[0].item() == pytest.approx(3.0) and h.count == 3
    h2 = HistoricalAverage(m)
    h2.load_state_dict(h.state_dict())
    assert h2.penalty().item() == pytest.approx(4.0)


# ---- virtual batch norm ----------------------------------------------------------------
def test_vbn_statistics_are_the_reference_batchs_mixed_with_the_example():
    vbn = VirtualBatchNorm2d(1, eps=0.0)
    ref = torch.tensor([1.0, 3.0, 5.0, 7.0]).view(4, 1, 1, 1)  # mean 4, second moment 21
    vbn.capturing = True
    vbn(ref)
    vbn.capturing = False
    mu_r, m2_r, n = vbn.reference
    assert (mu_r.item(), m2_r.item(), n) == (pytest.approx(4.0), pytest.approx(21.0), 4)
    x = torch.tensor([[[[2.0, 4.0]]]])  # own mean 3, second moment 10
    mu, m2 = (4 * 4.0 + 3.0) / 5, (4 * 21.0 + 10.0) / 5
    expected = (x - mu) / math.sqrt(m2 - mu * mu)
    assert torch.allclose(vbn(x), expected)


def test_vbn_generator_output_does_not_depend_on_the_rest_of_the_batch():
    g, _ = build(g_norm="vbn")
    assert isinstance(g, ReferenceBatch)
    z = torch.randn(5, 4)
    with torch.no_grad():
        alone, together = g(z[:1]), g(z)[:1]
    assert torch.allclose(alone, together, atol=1e-6)
    bn, _ = build(g_norm="bn")
    with torch.no_grad():
        assert not torch.allclose(bn(z[:2])[:1], bn(z)[:1], atol=1e-6)


def test_vbn_is_a_generator_normalizer_only():
    with pytest.raises(ConfigError, match=r"trial\.d_norm: invalid value 'vbn'; allowed: bn, ln, none, sn, swn, wn"):
        TrialConfig.from_dict({"d_norm": "vbn"})
    assert TrialConfig.from_dict({"g_norm": "vbn"}).g_norm == "vbn"


# ---- noisy and flipped labels ----------------------------------------------------------
def test_flip_rate_over_many_draws():
    gen = torch.Generator().manual_seed(0)
    real, fake = label_targets(200_000, False, 0.2, 0.0, gen, torch.device("cpu"))
    assert (real == 0).float().mean().item() == pytest.approx(0.2, abs=0.005)
    assert torch.equal(real + fake, torch.ones_like(real))  # a flip swaps the pair


def test_noisy_targets_lie_in_the_tips_ranges():
    gen = torch.Generator().manual_seed(0)
    real, fake = label_targets(100_000, True, 0.0, 0.0, gen, torch.device("cpu"))
    assert 0.7 <= real.min() and real.max() <= 1.2 and real.mean().item() == pytest.approx(0.95, abs=0.005)
    assert 0.0 <= fake.min() and fake.max() <= 0.3 and fake.mean().item() == pytest.approx(0.15, abs=0.005)


def test_hard_targets_give_the_ns_loss_and_soft_ones_the_cross_entropy():
    r, f = torch.randn(6), torch.randn(6)
    ones, zeros = torch.ones(6), torch.zeros(6)
    assert target_d_loss(r, f, ones, zeros).item() == pytest.approx(LOSSES.get("ns").d_loss(r, f).item(), rel=1e-6)
    t = torch.full((6,), 0.9)
    assert cross_entropy(r, t).item() == pytest.approx((0.9 * F.softplus(-r) + 0.1 * F.softplus(r)).mean().item())
    big = torch.tensor([1e4])  # target 1.2: bounded below thanks to the logit clip
    assert math.isfinite(cross_entropy(big, torch.tensor([1.2])).item())


# ---- conditional BN and projection -----------------------------------------------------
def test_conditional_batch_norm_formula():
    cbn = ConditionalBatchNorm2d(2, classes=3, eps=1e-5)
    with torch.no_grad():
        cbn.gamma.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        cbn.beta.weight.copy_(torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]))
    x = torch.randn(4, 2, 3, 3)
    y = torch.tensor([0, 2, 1, 2])
    cbn.labels = y
    normed = (x - x.mean((0, 2, 3), keepdim=True)) / (x.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    expected = normed * cbn.gamma.weight[y].view(4, 2, 1, 1) + cbn.beta.weight[y].view(4, 2, 1, 1)
    assert torch.allclose(cbn(x), expected, atol=1e-5)


def test_projection_discriminator_formula():
    g, d = build(classes=10, d_minibatch="stddev")
    assert isinstance(g, ConditionalGenerator) and isinstance(d, ProjectionDiscriminator)
    x, y = torch.randn(3, 1, 16, 16), torch.tensor([1, 7, 7])
    phi = d.features(x)
    expected = d.discriminator.fc(phi).squeeze(1) + (d.embed.weight[y] * phi).sum(1)  # psi(phi) + y^T V phi
    assert torch.allclose(d(x, y), expected, atol=1e-6)
    assert not torch.allclose(d(x, torch.tensor([0, 0, 0])), d(x, y))


def test_conditional_generator_depends_on_the_class():
    g, _ = build(classes=10)
    for m in g.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.beta.weight)
    z = torch.randn(2, 4).repeat(2, 1)
    out = g(z, torch.tensor([0, 0, 3, 3]))
    assert not torch.allclose(out[:2], out[2:])


# ---- architecture switches -------------------------------------------------------------
def test_g_lrelu_leaves_no_relu_in_g_and_d_avgpool_no_strided_conv_in_d():
    for arch in ("dcgan", "sndcgan", "sndcgan_paper"):
        g, d = build(arch, arch_options=frozenset({"g_lrelu", "d_avgpool"}))
        assert not any(type(m) is nn.ReLU for m in g.modules())
        assert any(isinstance(m, nn.LeakyReLU) for m in g.modules())
        assert not any(isinstance(m, nn.Conv2d) and m.stride != (1, 1) for m in d.modules())
        assert any(isinstance(m, nn.AvgPool2d) for m in d.modules())
        assert d(torch.randn(2, 1, 16, 16)).shape == (2,)


def test_dropout_stays_on_in_generation():
    g, _ = build(g_dropout=0.5)
    assert any(isinstance(m, AlwaysDropout) for m in g.modules())
    g.eval()
    z = torch.randn(4, 4)
    with torch.no_grad():
        assert not torch.allclose(g(z), g(z))


def test_checkerboard_check_names_uneven_strided_kernels():
    net = nn.Sequential(nn.ConvTranspose2d(2, 2, 3, 2), nn.Conv2d(2, 2, 4, 2), nn.Conv2d(2, 2, 3, 1))
    found = checkerboard_warnings(net)
    assert len(found) == 1 and found[0].startswith("0: transposed convolution kernel (3, 3)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the registered architectures are all even
        for arch in ("dcgan", "sndcgan", "resnet_cifar"):
            build(arch)


# ---- config and results ----------------------------------------------------------------
@pytest.mark.parametrize("values,message", [
    ({"feature_matching": 1.5}, r"trial\.feature_matching: invalid value 1\.5; allowed: 0 <= feature_matching <= 1"),
    ({"historical_averaging": -1}, r"trial\.historical_averaging: invalid value -1\.0; allowed: >= 0"),
    ({"label_flip": 0.5}, r"trial\.label_flip: invalid value 0\.5; allowed: 0 <= label_flip < 0\.5"),
    ({"label_flip": 0.1, "loss": "wgan"}, r"trial\.loss: invalid value 'wgan'; allowed: mm, ns with label_flip"),
    ({"label_noise": True, "loss": "hinge"}, r"trial\.loss: invalid value 'hinge'; allowed: mm, ns with label_noise"),
    ({"label_noise": True, "label_smoothing": 0.1}, r"trial\.label_smoothing: invalid value 0\.1"),
    ({"d_minibatch": "mbd"}, r"trial\.d_minibatch: invalid value 'mbd'; allowed: discrimination, none, stddev"),
    ({"g_dropout": 1.0}, r"trial\.g_dropout: invalid value 1\.0"),
    ({"conditional": True, "g_norm": "ln"}, r"trial\.g_norm: invalid value 'ln'; allowed: bn with conditional"),
    ({"metrics": "fid+intra_fid"}, r"trial\.metrics: .*intra_fid with conditional: true only"),
    ({"conditional": True, "dataset": "stl10", "channels": 3, "resolution": 48, "architecture": "sndcgan"},
     r"trial\.conditional: invalid value True; allowed: true only with labels for the training split"),
    ({"conditional": True, "dataset": "folder", "channels": 3, "resolution": 32}, r"trial\.conditional"),
    ({"arch_options": "d_avgpool", "architecture": "resnet_cifar", "resolution": 32}, r"trial\.arch_options"),
])
def test_trick_settings_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        TrialConfig.from_dict(values)


def test_new_fields_keep_old_keys_and_all_still_means_the_ablation():
    defaults = {f.name: f.default for f in dataclasses.fields(TrialConfig)}
    for name in TRICK_FIELDS:
        assert NEW_FIELD_DEFAULTS[name] == defaults[name]
    assert TrialConfig.from_dict({"arch_options": "all"}).arch_option_set() == {"eps"}
    assert TrialConfig.from_dict({"architecture": "sndcgan", "arch_options": "all"}).arch_option_set() == set()


def test_tricks_are_config_columns_of_the_results():
    from study.engine.schema import CONFIG_COLUMNS, SCHEMA, column_groups

    assert set(TRICK_FIELDS) <= set(CONFIG_COLUMNS)
    assert column_groups()["intra_fid"] == "metric" and SCHEMA.field("intra_fid").type == "double"


@pytest.mark.parametrize("d_norm", [n for n in NORMALIZERS.names() if not NORMALIZERS.get(n).generator_only])
@pytest.mark.parametrize("kind", ["none", "stddev", "discrimination"])
def test_projection_and_minibatch_layers_take_every_discriminator_normalizer(d_norm, kind):
    g, d = build(d_norm=d_norm, classes=3, d_minibatch=kind)
    y = torch.tensor([0, 1, 2, 1])
    out = d(g(torch.randn(4, 4), y), y)
    out.sum().backward()
    assert out.shape == (4,) and torch.isfinite(out).all()
    assert all(p.grad is not None for p in d.parameters() if p.requires_grad)
