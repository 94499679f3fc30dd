"""Architectures: shapes for every registry combination, parameter counts from the layer table."""
import itertools

import pytest
import torch

from study.models import ARCHITECTURES, HEADS, build_models
from study.normalizers import NORMALIZERS


def _build(arch, res, d_norm="none", g_norm="bn", head="tanh", width=0.5, channels=1, z_dim=32):
    return build_models(arch, resolution=res, channels=channels, z_dim=z_dim, width=width,
                        d_norm=NORMALIZERS.get(d_norm), g_norm=NORMALIZERS.get(g_norm), head=HEADS.get(head))


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_dcgan_parameter_count_from_the_layer_table():
    # 16 px, width 0.5 -> base 32 channels, 2 stages, 64 channels at 4x4, z 32, 1 channel.
    # G: fc 32*(64*16) + 64*16 = 33,792; BN(64) 128; deconv 64->32 k4: 64*32*16 + 32 = 32,800;
    #    BN(32) 64; deconv 32->1 k4: 32*16 + 1 = 513                       -> 67,297
    # D: conv 1->32 k4: 16*32 + 32 = 544; conv 32->64 k4: 32*64*16 + 64 = 32,832;
    #    linear 64*16 -> 1: 1,025                                           -> 34,401 (+128 with BN)
    g, d = _build("dcgan", 16)
    assert count(g) == 67_297
    assert count(d) == 34_401
    _, d_bn = _build("dcgan", 16, d_norm="bn")
    assert count(d_bn) == 34_401 + 128


def test_dcgan_default_width_matches_radford_channels_at_64px():
    # Radford et al.: G 1024 -> 512 -> 256 -> 128 -> 3 at 64 px; D 64 -> 128 -> 256 -> 512.
    g, d = _build("dcgan", 64, width=2.0, channels=3)  # 64 * 2 = 128 at full resolution
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 256, 512, 1024]
    g1, d1 = _build("dcgan", 64, width=1.0, channels=3)
    assert [c.out_channels for c in d1.modules() if isinstance(c, torch.nn.Conv2d)] == [64, 128, 256, 512]
    assert g1.top == 512


CASES = [
    (arch, res, d_norm, g_norm, head)
    for arch in ARCHITECTURES.names()
    for res in ARCHITECTURES.get(arch).resolutions[:3]
    for d_norm, g_norm, head in itertools.product(NORMALIZERS.names(), NORMALIZERS.names(), HEADS.names())
]


@pytest.mark.parametrize("arch,res,d_norm,g_norm,head", CASES)
def test_every_combination_builds_and_maps_shapes(arch, res, d_norm, g_norm, head):
    torch.manual_seed(0)
    g, d = _build(arch, res, d_norm, g_norm, head, width=0.125, channels=3)
    x = g(torch.randn(4, 32))
    assert x.shape == (4, 3, res, res)
    h = HEADS.get(head)
    assert x.min() >= h.low and x.max() <= h.high
    out = d(x)
    assert out.shape == (4,)
    out.mean().backward()


def test_unsupported_resolution_is_refused():
    with pytest.raises(ValueError, match="resolution: dcgan does not support 20"):
        _build("dcgan", 20)
