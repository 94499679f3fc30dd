"""Architectures: parameter counts derived from the papers' layer tables, the ablation
switches, and shapes for every architecture x normalizer x head."""
import itertools

import pytest
import torch
from torch import nn

from study.gan.models import ARCHITECTURES, HEADS, build_models
from study.gan.normalizers import NORMALIZERS


def _build(arch, res, d_norm="none", g_norm="bn", head="tanh", width=1.0, channels=3, z_dim=128, options=()):
    return build_models(arch, resolution=res, channels=channels, z_dim=z_dim, width=width,
                        d_norm=NORMALIZERS.get(d_norm), g_norm=NORMALIZERS.get(g_norm), head=HEADS.get(head),
                        options=frozenset(options))


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


def test_sndcgan_32_parameter_count_from_miyato_table3():
    # D: 3x3 64, 4x4 64, 3x3 128, 4x4 128, 3x3 256, 4x4 256, 3x3 512, linear 4*4*512 -> 1
    g, d = _build("sndcgan", 32)
    d_expected = (conv(3, 3, 64) + conv(4, 64, 64) + conv(3, 64, 128) + conv(4, 128, 128) + conv(3, 128, 256)
                  + conv(4, 256, 256) + conv(3, 256, 512) + linear(4 * 4 * 512, 1))
    assert count(d) == d_expected == 2_935_873
    # G: linear 128 -> 4*4*512, BN; deconv 4x4 512->256, BN; 256->128, BN; 128->64, BN; conv 3x3 64->3
    g_expected = (linear(128, 16 * 512) + bn(512) + conv(4, 512, 256) + bn(256) + conv(4, 256, 128) + bn(128)
                  + conv(4, 128, 64) + bn(64) + conv(3, 64, 3))
    assert count(g) == g_expected == 3_813_379


def test_sndcgan_128_has_a_16x16_start():
    g, d = _build("sndcgan", 128)
    assert g.start == 16 and d.fc.in_features == 16 * 16 * 512


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


def test_ablation_eps_sets_batch_norm_epsilon():
    g, d = _build("resnet_cifar", 32, d_norm="bn", options=["eps"])
    eps = {m.eps for m in list(g.modules()) + list(d.modules()) if isinstance(m, nn.BatchNorm2d)}
    assert eps == {2e-5}
    g, _ = _build("resnet_cifar", 32)
    assert {m.eps for m in g.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-5}


def test_width_multiplier_scales_channels():
    _, d = _build("sndcgan", 32, width=0.25)
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [16, 16, 32, 32, 64, 64, 128]


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
    g, d = build_models(arch, resolution=res, channels=3, z_dim=8, width=width, d_norm=NORMALIZERS.get(norm),
                        g_norm=NORMALIZERS.get(norm), head=HEADS.get(head), head_stats=stats)
    x = g(torch.randn(4, 8))
    assert x.shape == (4, 3, res, res)
    h = HEADS.get(head)
    assert x.min() >= h.low and x.max() <= h.high
    out = d(x)
    assert out.shape == (4,) and torch.isfinite(out).all()
    out.mean().backward()
