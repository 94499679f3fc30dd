"""Training batches of real images: resident on the device when they fit, streamed when not.

- ``ResidentBatches``: the training images stay in one tensor (uint8 for real data, the digits'
  float) on the device, or, on the CPU, the memory map itself; a batch is a gather at indices
  drawn from the trial's own generator, converted to float in the head's range. This draws
  exactly what the trial drew before real data existed, so a trial resumed from a checkpoint
  continues identically.
- ``StreamedBatches``: a background thread draws indices from its own seeded NumPy generator,
  gathers them (sorted, for locality) from the memory map, pins the uint8 batch (CUDA only) and
  copies it to the device without blocking; ``prefetch`` batches wait in a queue so the device
  never waits for the disk. A resumed trial draws a fresh (seeded) sequence.

``batches(...)`` picks: resident when the uint8 training set takes at most ``max_device_bytes``
(default: a quarter of the GPU's memory; CIFAR-10 at 32 px is 150 MB) or the device is the CPU.
"""
from __future__ import annotations

import queue
import threading

import numpy as np
import torch

from study.gan.data.registry import to_range

DEVICE_FRACTION = 0.25  # of a GPU's memory that a resident training set may take


class ResidentBatches:
    def __init__(self, images: torch.Tensor, device: torch.device, low: float, high: float,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.device, self.low, self.high, self.memory_format = device, low, high, memory_format
        self.uint8 = images.dtype == torch.uint8
        if self.uint8:  # converted per batch
            self.images = images if device.type == "cpu" else images.to(device)
        else:  # the digits' floats: mapped to the head's range once, as trials always did
            self.images = to_range(images, low, high).to(device).contiguous(memory_format=memory_format)
        self.scale = (high - low) / 255.0

    def __len__(self) -> int:
        return len(self.images)

    def next(self, batch_size: int, gen: torch.Generator) -> torch.Tensor:
        return self._gather(torch.randint(0, len(self.images), (batch_size,), generator=gen, device=self.device))

    def next_labeled(self, batch_size: int, gen: torch.Generator,
                     labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch and its labels (``labels``: the training images' classes, on this device)."""
        idx = torch.randint(0, len(self.images), (batch_size,), generator=gen, device=self.device)
        return self._gather(idx), labels[idx]

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        if not self.uint8:
            return self.images[idx]
        x = self.images[idx.cpu() if self.images.device.type == "cpu" else idx]
        x = x.to(self.device, non_blocking=True).float().mul_(self.scale).add_(self.low)
        return x.contiguous(memory_format=self.memory_format)

    def close(self) -> None:
        pass


class StreamedBatches:
    def __init__(self, images: np.ndarray, device: torch.device, low: float, high: float, batch_size: int,
                 seed: int, prefetch: int = 4,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.images, self.device, self.low, self.batch_size = images, device, low, batch_size
        self.scale, self.memory_format = (high - low) / 255.0, memory_format
        self.rng = np.random.default_rng(seed)
        self.pin = device.type == "cuda"
        self.queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="batch-prefetch", daemon=True)
        self.thread.start()

    def __len__(self) -> int:
        return len(self.images)

    def _produce(self) -> None:
        try:
            while not self.stop.is_set():
                idx = np.sort(self.rng.integers(0, len(self.images), self.batch_size))
                batch = torch.from_numpy(np.ascontiguousarray(self.images[idx]))
                if self.pin:
                    batch = batch.pin_memory()
                while not self.stop.is_set():
                    try:
                        self.queue.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            self.queue.put(e)

    def next(self, batch_size: int, gen: torch.Generator | None = None) -> torch.Tensor:
        if batch_size != self.batch_size:
            raise ValueError(f"batch_size: streamed batches are of {self.batch_size}, asked {batch_size}")
        item = self.queue.get()
        if isinstance(item, BaseException):
            raise item
        x = item.to(self.device, non_blocking=True).float().mul_(self.scale).add_(self.low)
        return x.contiguous(memory_format=self.memory_format)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def device_budget(device: torch.device) -> int:
    if device.type != "cuda":
        return 1 << 62
    return int(torch.cuda.get_device_properties(device).total_memory * DEVICE_FRACTION)


def batches(images: torch.Tensor, device: torch.device, low: float, high: float, batch_size: int, seed: int,
            memory_format: torch.memory_format = torch.contiguous_format,
            max_device_bytes: int | None = None) -> ResidentBatches | StreamedBatches:
    budget = device_budget(device) if max_device_bytes is None else max_device_bytes
    size = images.numel() * images.element_size()
    if device.type == "cpu" or size <= budget or images.dtype != torch.uint8:
        return ResidentBatches(images, device, low, high, memory_format)
    return StreamedBatches(images.numpy(), device, low, high, batch_size, seed, memory_format=memory_format)
