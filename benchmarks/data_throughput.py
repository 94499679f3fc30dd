"""Real-data input pipeline: random batches of 64 per second from a prepared memory map, against
the trial's own training step rate on the same machine; and the memory each extra process
sharing the prepared set adds.

A synthetic CIFAR-10 of the real size (50,000 + 10,000 images, 3 x 32 x 32, in the python
version's format) is written to a temporary directory and prepared by ``ensure_prepared`` (timed).
Then, in this process:

- batches/s as the trial draws them: resident (the CPU gathers from the memory map itself; on
  CUDA the uint8 set sits on the GPU) and streamed (the background prefetch thread, pinned memory
  and a non-blocking copy on CUDA), each converted to float in the head's range;
- the trial's training steps/s on that same prepared set (``run_trial``, timed differentially
  between a short and a long run so set-up and evaluation cancel; SNDCGAN 32 px by default).
  One discriminator step consumes one real batch, so data/train is the headroom (goal >= 20).

Memory: a first process maps the prepared train array and reads every page; a second one then
does the same and draws 2,000 batches; its ``/proc/self/smaps_rollup`` private memory (USS)
before and after is what one more trial adds for the data (goal: < 10% of the array's size),
the array's pages showing up as shared (one copy in the page cache).

    python benchmarks/data_throughput.py [--arch sndcgan --width 0.25] [--device auto]
"""
from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from study.gan.config import TrialConfig
from study.gan.data import DataOptions
from study.gan.data.loader import ResidentBatches, StreamedBatches
from study.gan.data.prepared import ensure_prepared
from study.gan.data.registry import shared_tensor
from study.gan.device import pick_device
from study.gan.trial import run_trial

BATCH = 64


def write_fake_cifar(root: Path) -> Path:
    """Random images in the CIFAR-10 python version's layout (5 x 10,000 train + 10,000 test)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (10_000, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [int(x) for x in rng.integers(0, 10, 10_000)]}, f, protocol=2)
    return root


def batches_per_s(source, n: int, device: torch.device) -> float:
    gen = torch.Generator(device=device).manual_seed(0)
    for _ in range(20):
        source.next(BATCH, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        x = source.next(BATCH, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    assert x.shape == (BATCH, 3, 32, 32)
    return n / (time.perf_counter() - t)


def train_steps_per_s(cfg: dict, short: int, long: int) -> float:
    times = []
    for steps in (short, long):
        c = TrialConfig.from_dict({**cfg, "steps": steps, "eval_every": steps, "eval_samples": 200,
                                   "eval_real_samples": 200})
        t = time.perf_counter()
        run_trial(c, lambda row: None)
        times.append(time.perf_counter() - t)
    return (long - short) / (times[1] - times[0])


CHILD = r"""
import sys, time
import numpy as np, torch
from study.gan.data.loader import ResidentBatches
from study.gan.data.registry import shared_tensor

def uss_kib():
    fields = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0].rstrip(":")] = int(parts[1])
    return fields

path, draw = sys.argv[1], sys.argv[2] == "1"
before = uss_kib()
images = np.load(path, mmap_mode="r")
total = 0
for i in range(0, len(images), 4096):  # read every page of the array
    total += int(images[i:i + 4096, 0, 0, 0].sum()) + int(np.asarray(images[i:i + 4096]).max())
if draw:
    src = ResidentBatches(shared_tensor(images), torch.device("cpu"), -1.0, 1.0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2000):
        src.next(64, gen)
after = uss_kib()
print(" ".join(f"{k}={before.get(k, 0)},{after.get(k, 0)}"
               for k in ("Rss", "Pss", "Shared_Clean", "Private_Clean", "Private_Dirty")), flush=True)
sys.stdin.readline()  # stay alive (mapped) until told
"""


def second_process_memory(array: Path) -> dict[str, float]:
    first = subprocess.Popen([sys.executable, "-c", CHILD, str(array), "0"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    first.stdout.readline()  # the first process has mapped and read every page
    second = subprocess.Popen([sys.executable, "-c", CHILD, str(array), "1"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    line = second.stdout.readline()
    for p in (second, first):
        p.stdin.write("\n")
        p.stdin.flush()
        p.wait(timeout=60)
    kib = {k: tuple(int(x) for x in v.split(",")) for k, v in (item.split("=") for item in line.split())}
    private = lambda i: kib["Private_Clean"][i] + kib["Private_Dirty"][i]  # noqa: E731
    return {"second_process_extra_private_mb": (private(1) - private(0)) / 1024,
            "second_process_uss_mb": private(1) / 1024, "second_process_shared_mb": kib["Shared_Clean"][1] / 1024,
            "second_process_extra_rss_mb": (kib["Rss"][1] - kib["Rss"][0]) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--arch", default="sndcgan")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    figures: dict[str, float | str] = {"device": str(device), "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_fake_cifar(Path(tmp) / "data")
        options = DataOptions("cifar10", 32, str(root))
        t = time.perf_counter()
        prepared = ensure_prepared(options)
        figures["prepare_s"] = round(time.perf_counter() - t, 2)
        images = prepared.images("train")
        figures["dataset_mb"] = round(images.nbytes / 2**20, 1)
        cpu = torch.device("cpu")
        resident = batches_per_s(ResidentBatches(shared_tensor(images), cpu, -1.0, 1.0), args.batches, cpu)
        streamed_src = StreamedBatches(images, cpu, -1.0, 1.0, BATCH, seed=0)
        streamed = batches_per_s(streamed_src, args.batches, cpu)
        streamed_src.close()
        figures["cpu_resident_batches_per_s"] = round(resident, 1)
        figures["cpu_streamed_batches_per_s"] = round(streamed, 1)
        if device.type == "cuda":
            dev_res = batches_per_s(ResidentBatches(shared_tensor(images), device, -1.0, 1.0), args.batches, device)
            src = StreamedBatches(images, device, -1.0, 1.0, BATCH, seed=0)
            dev_str = batches_per_s(src, args.batches, device)
            src.close()
            figures["device_resident_batches_per_s"] = round(dev_res, 1)
            figures["device_streamed_batches_per_s"] = round(dev_str, 1)
        cfg = dict(dataset="cifar10", channels=3, resolution=32, data_dir=str(root), architecture=args.arch,
                   width=args.width, z_dim=128, batch_size=BATCH, d_norm="sn", device=args.device,
                   threads=args.threads)
        short, long = (100, 600) if device.type == "cuda" else (10, 50)
        train = train_steps_per_s(cfg, short, long)
        figures["train_steps_per_s"] = round(train, 2)
        best_resident = figures.get("device_resident_batches_per_s", resident)
        best_streamed = figures.get("device_streamed_batches_per_s", streamed)
        figures["resident_data_to_train_ratio"] = round(best_resident / train, 1)
        figures["streamed_data_to_train_ratio"] = round(best_streamed / train, 1)
        memory = second_process_memory(prepared.path / "train.npy")
        figures.update({k: round(v, 1) for k, v in memory.items()})
        figures["second_process_extra_private_ratio"] = round(memory["second_process_extra_private_mb"] /
                                                              figures["dataset_mb"], 4)
    for k, v in figures.items():
        print(f"{k}: {v}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
