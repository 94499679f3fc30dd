"""Opt-in TensorBoard logging (``tensorboard: true`` in the study file), from the driver.

A Tune callback writes one TensorBoard run per trial, ``<study>/tensorboard/<model>/<phase>_<key>``,
so that ``tensorboard --logdir STUDY_DIR/tensorboard`` shows every trial grouped by model: at
each evaluation its metrics (FID, best FID, losses, and IS, KID, precision and recall where
computed) against the training step, and its sample grids (``samples/best`` and
``samples/final`` when it ends; ``samples/step`` at each evaluation with ``sample_every``) as
images, read from the PNGs the trial wrote into the study directory.

Events are written with the ``tensorboard`` package's own event-file writer and protos (the
optional extra ``gan-study[tensorboard]``): neither tensorboardX nor torch's writer, both of
which import torch, so the driver stays without torch. Local (or mounted) study directories
only: on object storage the callback is not installed and the driver says so.
"""
from __future__ import annotations

import math
import struct
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from study.engine.request import member_rows, requests_of
from study.engine.tune.searcher import request_of

SCALARS = ("fid", "best_fid", "d_loss", "g_loss", "inception_score", "kid", "pr_precision", "pr_recall",
           "dc_density", "dc_coverage", "pixel_hist_distance", "recon_error", "wall_time_s")


def png_size(data: bytes) -> tuple[int, int]:
    """(height, width) from a PNG's IHDR chunk."""
    width, height = struct.unpack(">II", data[16:24])
    return height, width


def _image_value(tag: str, data: bytes):
    from tensorboard.compat.proto.summary_pb2 import Summary

    height, width = png_size(data)
    colorspace = {0: 1, 2: 3, 4: 2, 6: 4}.get(data[25], 3)  # PNG colour type -> channels
    return Summary.Value(tag=tag, image=Summary.Image(height=height, width=width, colorspace=colorspace,
                                                        encoded_image_string=data))


class TensorBoardCallback(Callback):
    def __init__(self, study_dir: str) -> None:
        self.study_dir = Path(str(study_dir).removeprefix("file://"))
        self.root = self.study_dir / "tensorboard"
        self.writers: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its callbacks: open writers stay behind
        return {**self.__dict__, "writers": {}}

    def _writer(self, req):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        if req.trial_key not in self.writers:
            self.writers[req.trial_key] = EventFileWriter(str(self.root / req.model / f"{req.phase}_{req.trial_key}"))
        return req.trial_key, self.writers[req.trial_key]

    def _write(self, writer, step: int, values: list) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        if values:
            writer.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))

    def _grid(self, key: str, name: str, tag: str) -> list:
        path = self.study_dir / "samples" / key / name
        return [_image_value(tag, path.read_bytes())] if path.is_file() else []

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        for req, row in member_rows(request_of(trial.config), result):  # a fused group: each member's run
            self._result(req, row)

    def _result(self, req, result: dict) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        key, writer = self._writer(req)
        step = int(result.get("step") or 0)
        values = [Summary.Value(tag=name, simple_value=float(result[name])) for name in SCALARS
                  if isinstance(result.get(name), (int, float)) and math.isfinite(result[name])]
        values += self._grid(key, f"step-{step:09d}.png", "samples/step")
        self._write(writer, step, values)
        writer.flush()

    def _close(self, trial, result: dict | None) -> None:
        request = request_of(trial.config)
        rows = dict((req.trial_key, row) for req, row in member_rows(request, result or {}, new_only=False))
        for req in requests_of(request):
            self._close_run(req.trial_key, rows.get(req.trial_key))

    def _close_run(self, key: str, result: dict | None) -> None:
        writer = self.writers.pop(key, None)
        if writer is None:
            return
        step = int((result or {}).get("step") or 0)
        self._write(writer, step, self._grid(key, "best.png", "samples/best") + self._grid(key, "final.png",
                                                                                            "samples/final"))
        writer.close()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._close(trial, trial.last_result)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._close(trial, trial.last_result)

    def on_experiment_end(self, trials, **info) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
