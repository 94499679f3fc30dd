"""Generator output heads (Mullery and Whelan): ranges, BN-with-clipping initialisation."""
import pytest
import torch

from study.gan.models import HEADS
from study.gan.training.build import channel_stats


def test_bn_clip_starts_at_the_data_statistics_and_clips():
    images = torch.rand(50, 3, 4, 4) * torch.tensor([0.2, 1.0, 2.0]).view(1, 3, 1, 1) - 0.5
    mean, std = channel_stats(images)
    assert torch.allclose(mean, images.permute(1, 0, 2, 3).reshape(3, -1).mean(1))
    head = HEADS.get("bn_clip").make(3, (mean, std)).train()
    bn = head[0]
    assert torch.allclose(bn.weight, std) and torch.allclose(bn.bias, mean) and bn.weight.requires_grad
    # BN standardises its input, then scales by std and shifts by mean: the batch statistics of
    # the output match the data's (before clipping, which only acts outside [-1, 1])
    y = head(torch.randn(256, 3, 4, 4) * 7 + 3)
    assert y.min() >= -1.0 and y.max() <= 1.0
    assert torch.allclose(y[:, 0].mean(), mean[0], atol=0.02)
    frozen = HEADS.get("bn_clip_frozen").make(3, (mean, std))
    assert not frozen[0].weight.requires_grad and not frozen[0].bias.requires_grad


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_stays_in_its_range(name):
    h = HEADS.get(name)
    out = h.make(2, (torch.zeros(2), torch.ones(2)))(torch.randn(16, 2, 3, 3) * 100)
    assert out.min() >= h.low and out.max() <= h.high
    assert (h.low, h.high) in ((0.0, 1.0), (-1.0, 1.0))
