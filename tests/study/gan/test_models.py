"""Architectures: parameter counts derived from the papers' layer tables, the ablation
switches, and shapes for every architecture x normalizer x head."""
import itertools

import pytest
import torch
from torch import nn

from study.gan.models import ARCHITECTURES, HEADS, ModelOptions, build_models
from study.gan.normalizers import NORMALIZERS


def _build(arch, res, d_norm="none", g_norm="bn", head="tanh", width=1.0, channels=3, z_dim=128, options=(), **kw):
    """G and D (at the architecture's reference init and upsampling unless ``kw`` says otherwise)."""
    return build_models(arch, ModelOptions(resolution=res, channels=channels, z_dim=z_dim, width=width,
                                           d_norm=NORMALIZERS.get(d_norm), g_norm=NORMALIZERS.get(g_norm),
                                           head=HEADS.get(head), arch_options=frozenset(options), **kw))


def count(module):
    return sum(p.numel() for p in module.parameters())


# Parameter counts from the layer tables: conv k x k cin -> cout has k*k*cin*cout weights + cout
# biases; linear a -> b has a*b + b; BN over c channels has 2c (scale, shift).
def conv(k, cin, cout):
    return k * k * cin * cout + cout


def linear(a, b):
    return a * b + b


def bn(c):
    return 2 * c


def test_dcgan_parameter_count_from_the_layer_table():
    # 16 px, width 0.5 -> 32 channels at 16 px, 64 at 4x4, z 32, 1 channel
    g, d = _build("dcgan", 16, width=0.5, channels=1, z_dim=32)
    assert count(g) == linear(32, 64 * 16) + bn(64) + conv(4, 64, 32) + bn(32) + conv(4, 32, 1) == 67_297
    assert count(d) == conv(4, 1, 32) + conv(4, 32, 64) + linear(64 * 16, 1) == 34_401
    assert count(_build("dcgan", 16, d_norm="bn", width=0.5, channels=1, z_dim=32)[1]) == 34_401 + bn(64)


def sndcgan_d(res, widths):  # 3x3/1, 4x4/2 alternating, then linear on the (r/8)^2 map
    kernels, cin, total = (3, 4, 3, 4, 3, 4, 3), 3, 0
    for k, c in zip(kernels, widths):
        total, cin = total + conv(k, cin, c), c
    return total + linear((res // 8) ** 2 * 512, 1)


def sndcgan_g(res, flat_bn):  # linear z -> (r/8)^2 x 512, BN, deconvs 512->256->128->64 with BN, conv 3x3 -> 3
    flat = (res // 8) ** 2 * 512
    return (linear(128, flat) + (bn(flat) if flat_bn else bn(512)) + conv(4, 512, 256) + bn(256)
            + conv(4, 256, 128) + bn(128) + conv(4, 128, 64) + bn(64) + conv(3, 64, 3))


COMPARE_GAN_D = (64, 128, 128, 256, 256, 512, 512)  # compare_gan v2 sn_discriminator (and pfnet's SNDCGAN)
PAPER_D = (64, 64, 128, 128, 256, 256, 512)  # Miyato et al. 2018, Table 3


@pytest.mark.parametrize("res,g_count,d_count", [(32, 3_828_739, 5_860_865), (128, 19_926_019, 5_983_745)])
def test_sndcgan_parameter_counts_equal_compare_gans(res, g_count, d_count):
    g, d = _build("sndcgan", res, head="tanh01")
    assert count(d) == sndcgan_d(res, COMPARE_GAN_D) == d_count
    assert count(g) == sndcgan_g(res, flat_bn=True) == g_count
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns[0].num_features == (res // 8) ** 2 * 512 and {m.eps for m in bns} == {2e-5}


def test_sndcgan_paper_parameter_count_from_miyato_table3():
    g, d = _build("sndcgan_paper", 32)
    assert count(d) == sndcgan_d(32, PAPER_D) == 2_935_873
    assert count(g) == sndcgan_g(32, flat_bn=False) == 3_813_379


def test_sndcgan_first_batch_norm_normalises_each_flat_feature_over_the_batch():
    torch.manual_seed(0)
    g, _ = _build("sndcgan", 16, head="tanh01", width=1 / 16)
    z = torch.rand(6, 128) * 2 - 1
    h = g.fc(z)  # (6, 2*2*32)
    expected = ((h - h.mean(0)) / (h.var(0, unbiased=False) + 2e-5).sqrt()).view(6, 32, 2, 2)
    got = {}
    g.body[0].register_forward_hook(lambda m, inp, out: got.update(x=inp[0]))
    g(z)
    assert torch.allclose(got["x"], expected, atol=1e-5)


def test_sndcgan_outputs_half_tanh_in_0_1_and_d_maps_its_input_to_2x_minus_1():
    torch.manual_seed(0)
    g, d = _build("sndcgan", 16, head="tanh01", width=1 / 16)
    pre = {}
    g.body[-2].register_forward_hook(lambda m, inp, out: pre.update(x=out))
    x = g(torch.rand(3, 128))
    assert torch.allclose(x, 0.5 * torch.tanh(pre["x"]) + 0.5, atol=1e-6)
    seen = {}
    d.body[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    d(x)
    assert torch.allclose(seen["x"], 2 * x - 1, atol=1e-6)
    _, d_tanh = _build("sndcgan", 16, head="tanh", width=1 / 16)  # a [-1, 1] head: fed as is
    seen.clear()
    d_tanh.body[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    d_tanh(2 * x - 1)
    assert torch.equal(seen["x"], 2 * x - 1)


def test_unpool_inserts_zeros_as_compare_gan_v2_does():
    from study.gan.models.layers import unpool

    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    assert unpool(x).view(4, 4).tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    two = torch.stack([x, 10 * x], 1).view(1, 2, 2, 2)  # channels stay apart
    assert unpool(two)[0, 1].tolist() == [[10, 0, 20, 0], [0, 0, 0, 0], [30, 0, 40, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("upsample,expected", [("unpool", [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]),
                                               ("nearest", [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])])
def test_resnet_generator_blocks_upsample_as_asked(upsample, expected):
    g, _ = _build("resnet_cifar", 16, g_norm="none", head="sigmoid", width=1 / 64, z_dim=8, upsample=upsample)
    block = g.blocks[0]
    seen = {}
    block.shortcut.register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2).repeat(1, block.conv1.in_channels, 1, 1)
    block(x)
    assert seen["x"][0, 0].tolist() == expected


def _weights(module, kind):
    return torch.cat([m.weight.detach().flatten() for m in module.modules() if type(m) is kind])


def test_resnet_compare_gan_init_truncated_normal_convs_and_normal_linear():
    torch.manual_seed(0)
    g, d = _build("resnet_cifar", 32, head="sigmoid")
    convs = torch.cat([_weights(g, nn.Conv2d), _weights(d, nn.Conv2d)])
    # TF's truncated normal: N(0, 0.02) redrawn outside +-0.04; std = 0.02 * 0.879626 = 0.0175925
    assert convs.abs().max().item() <= 0.04
    assert convs.std().item() == pytest.approx(0.02 * 0.879626, rel=0.01)
    assert convs.mean().abs().item() < 1e-4
    lin = torch.cat([_weights(g, nn.Linear), _weights(d, nn.Linear)])
    assert lin.std().item() == pytest.approx(0.02, rel=0.01) and lin.abs().max().item() > 0.06  # not truncated
    assert all(m.bias.abs().max() == 0 for m in g.modules() if type(m) in (nn.Conv2d, nn.Linear))


def test_resnet_sngan_init_is_xavier_uniform():
    torch.manual_seed(0)
    g, _ = _build("resnet_cifar", 32, head="sigmoid", init="sngan")
    w = g.blocks[0].conv1.weight  # 3x3 256 -> 256, gain sqrt(2): bound sqrt(2) sqrt(6 / (fan_in + fan_out))
    bound = 2**0.5 * (6 / (2 * 256 * 9)) ** 0.5
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.99 * bound
    assert w.std().item() == pytest.approx(bound / 3**0.5, rel=0.01)  # uniform on [-b, b]


def gblock(cin, cout):  # BN, conv3x3, BN, conv3x3, 3x3 conv shortcut
    return bn(cin) + conv(3, cin, cout) + bn(cout) + conv(3, cout, cout) + conv(3, cin, cout)


def dblock(cin, cout, hidden=None, shortcut=True):  # no D normalizer: conv3x3 x2 + 3x3 conv shortcut
    h = hidden or cout
    return conv(3, cin, h) + conv(3, h, cout) + (conv(3, cin, cout) if shortcut else 0)


def test_resnet_cifar_parameter_count_from_the_sngan_table():
    g, d = _build("resnet_cifar", 32, head="sigmoid")
    # G: linear 128 -> 4*4*256, 3 up blocks 256 -> 256, BN, conv3x3 256 -> 3
    assert count(g) == linear(128, 16 * 256) + 3 * gblock(256, 256) + bn(256) + conv(3, 256, 3) == 5_849_603
    # D: blocks 3 -> 128 (down), 128 -> 128 (down), 128 -> 128, 128 -> 128, linear 128 -> 1
    assert count(d) == dblock(3, 128) + 3 * dblock(128, 128) + linear(128, 1) == 1_483_137


def test_resnet19_parameter_count_from_kurach_table():
    g, d = _build("resnet19", 128, head="sigmoid")
    gc = [512, 512, 256, 256, 128, 64]
    g_expected = linear(128, 16 * 512) + sum(gblock(a, b) for a, b in zip(gc, gc[1:])) + bn(64) + conv(3, 64, 3)
    assert count(g) == g_expected == 13_786_115
    dc = [3, 64, 128, 256, 256, 512, 512]
    assert count(d) == sum(dblock(a, b) for a, b in zip(dc, dc[1:])) + linear(512, 1) == 15_086_529
    x = g(torch.rand(2, 128))
    assert x.shape == (2, 3, 128, 128) and d(x).shape == (2,)


def test_ablation_skip_and_cin_change_the_d_blocks_as_described():
    _, d = _build("resnet_cifar", 32, options=["skip"])
    # identity shortcuts where channels match (the three 128 -> 128 blocks)
    assert count(d) == dblock(3, 128) + 3 * dblock(128, 128, shortcut=False) + linear(128, 1)
    _, d = _build("resnet_cifar", 32, options=["cin"])
    assert count(d) == dblock(3, 128, hidden=3) + 3 * dblock(128, 128) + linear(128, 1)


def test_ablation_opt_skips_the_first_relu():
    # On a negative image, a pre-activation first block sees relu(x) = 0 in its main path: the
    # output then only depends on x through the shortcut. The optimised block sees x itself.
    torch.manual_seed(0)
    x = -torch.rand(2, 3, 32, 32) - 0.1
    for opts, main_depends_on_x in (((), False), (("opt",), True)):
        torch.manual_seed(1)
        _, d = _build("resnet_cifar", 32, options=opts)
        block = d.blocks[0]
        main = block.conv2(block.act2(block.norm2(block.conv1(block.act1(block.norm1(x))))))
        main2 = block.conv2(block.act2(block.norm2(block.conv1(block.act1(block.norm1(2 * x))))))
        assert (not torch.allclose(main, main2)) == main_depends_on_x


def test_ablation_sum_scales_the_pooled_features_by_the_map_size():
    feats = {}
    for opts in ((), ("sum",)):
        torch.manual_seed(0)
        _, d = _build("resnet_cifar", 32, options=opts)
        d.fc.register_forward_hook(lambda m, inp, out, o=opts: feats.__setitem__(o, inp[0]))
        d(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3)))
    assert torch.allclose(feats[("sum",)], feats[()] * 8 * 8, rtol=1e-4)


def test_ablation_eps_sets_the_generators_batch_norm_epsilon_only():
    g, d = _build("resnet_cifar", 32, d_norm="bn", options=["eps"])
    assert {m.eps for m in g.modules() if isinstance(m, nn.BatchNorm2d)} == {2e-5}
    assert {m.eps for m in d.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-5}
    g, _ = _build("resnet_cifar", 32)
    assert {m.eps for m in g.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-5}
    _, d = _build("resnet_cifar", 32, d_norm="ln", options=["eps"])  # compare_gan's layer norm: 1e-12
    assert {m.eps for m in d.modules() if isinstance(m, nn.GroupNorm)} == {1e-12}


def test_width_multiplier_scales_channels():
    _, d = _build("sndcgan", 32, width=0.25)
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [16, 32, 32, 64, 64, 128, 128]


def test_options_and_resolution_are_checked():
    with pytest.raises(ValueError, match="resolution: resnet19 does not support 32"):
        _build("resnet19", 32)
    with pytest.raises(ValueError, match="arch_options: dcgan has no option 'skip'"):
        _build("dcgan", 32, options=["skip"])


CASES = [(arch, ARCHITECTURES.get(arch).resolutions[0], norm, head)
         for arch, norm, head in itertools.product(ARCHITECTURES.names(), NORMALIZERS.names(), HEADS.names())]


@pytest.mark.parametrize("arch,res,norm,head", CASES)
def test_every_architecture_normalizer_head_maps_shapes_and_ranges(arch, res, norm, head):
    torch.manual_seed(0)
    width = 1 / 64 if arch == "resnet19" else 1 / 16
    stats = (torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.5, 0.6, 0.7]))
    g, d = _build(arch, res, d_norm=norm, g_norm=norm, head=head, width=width, z_dim=8, head_stats=stats)
    x = g(torch.randn(4, 8))
    assert x.shape == (4, 3, res, res)
    h = HEADS.get(head)
    assert x.min() >= h.low and x.max() <= h.high
    out = d(x)
    assert out.shape == (4,) and torch.isfinite(out).all()
    out.mean().backward()
