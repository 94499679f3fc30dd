"""Training batches: resident gathers draw what the trial's generator says; streamed batches
come from a seeded sequence through the prefetch thread; both map uint8 to the head's range."""
import numpy as np
import pytest
import torch

from study.gan.data.loader import ResidentBatches, StreamedBatches, batches
from study.gan.data.registry import to_range

IMAGES = np.random.default_rng(0).integers(0, 256, (50, 3, 4, 4), dtype=np.uint8)


def test_resident_uint8_batches_are_the_drawn_images_in_the_heads_range():
    src = ResidentBatches(torch.from_numpy(IMAGES), torch.device("cpu"), -1.0, 1.0)
    gen = torch.Generator().manual_seed(3)
    x = src.next(8, gen)
    idx = torch.randint(0, 50, (8,), generator=torch.Generator().manual_seed(3))
    want = IMAGES[idx.numpy()].astype(np.float64) / 255 * 2 - 1
    np.testing.assert_allclose(x.numpy(), want, atol=1e-6)
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1


def test_resident_float_batches_draw_exactly_as_trials_always_did():
    images = torch.rand(30, 1, 8, 8)
    src = ResidentBatches(images, torch.device("cpu"), -1.0, 1.0)
    x = src.next(5, torch.Generator().manual_seed(1))
    old = to_range(images, -1.0, 1.0)[torch.randint(0, 30, (5,), generator=torch.Generator().manual_seed(1))]
    assert torch.equal(x, old)


def test_streamed_batches_follow_their_seeded_sequence():
    src = StreamedBatches(IMAGES, torch.device("cpu"), 0.0, 1.0, batch_size=6, seed=11, prefetch=2)
    try:
        got = [src.next(6).numpy() for _ in range(5)]
    finally:
        src.close()
    assert not src.thread.is_alive()
    rng = np.random.default_rng(11)
    for x in got:
        idx = np.sort(rng.integers(0, 50, 6))
        np.testing.assert_allclose(x, IMAGES[idx] / 255.0, atol=1e-7)


def test_streamed_batches_raise_the_producers_error_in_the_trial():
    class Broken:
        def __len__(self):
            return 10

        def __getitem__(self, idx):
            raise OSError("disk gone")

    src = StreamedBatches(Broken(), torch.device("cpu"), 0.0, 1.0, batch_size=2, seed=0)
    with pytest.raises(OSError, match="disk gone"):
        src.next(2)
    src.close()


def test_choice_resident_unless_too_big_for_the_device():
    t = torch.from_numpy(IMAGES)
    assert isinstance(batches(t, torch.device("cpu"), 0, 1, 4, 0), ResidentBatches)  # the CPU reads the map
    assert isinstance(batches(t, torch.device("cpu"), 0, 1, 4, 0, max_device_bytes=10), ResidentBatches)
    if torch.cuda.is_available():
        big = batches(t, torch.device("cuda"), 0, 1, 4, 0, max_device_bytes=10)
        assert isinstance(big, StreamedBatches) and big.next(4).device.type == "cuda"
        big.close()
