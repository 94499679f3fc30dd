"""The Inception wrapper's precision switch: an eager float32 network fed a reduced precision
must not crash (issue 16: 'Input type (CUDABFloat16Type) and weight type (torch.cuda.FloatTensor)
should be the same'); both weight files are covered by tests/study/gan/test_inception.py."""
import pytest
import torch
from torch import nn

from study.gan.metrics.extractors import InceptionPool3


class TinyNet(nn.Module):
    """An eager stand-in with the FIDInceptionV3 interface: ``features`` and logits."""

    has_logits = True

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, stride=8)
        self.fc = nn.Linear(4, 5)

    def features(self, x):
        return self.conv(x).mean((2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_runs_a_cast_copy_and_leaves_the_float32_network_alone(dtype):
    net = TinyNet()
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    model = InceptionPool3(net, "tf_bilinear")
    with pytest.raises(RuntimeError):  # what the fix is about: input and weights in different types
        net.features(model._input(images).to(dtype))
    reference = model.features(images)
    model.dtype = dtype
    low = model.features(images)
    expected = TinyNet().to(dtype).features(model._input(images)).float()  # same weights, cast by hand
    assert low.dtype == torch.float32 and torch.equal(low, expected)
    assert torch.allclose(low, reference, rtol=0.05, atol=0.02)
    assert model(images).shape == (3, 5)
    assert net.conv.weight.dtype == torch.float32  # the float32 path is untouched
    model.dtype = torch.float32
    assert torch.equal(model.features(images), reference)
