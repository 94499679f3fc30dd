"""The TensorBoard callback: each trial's scalars and sample grids, read back with
TensorBoard's own event reader; the driver stays without torch."""
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from study.engine.request import TrialRequest
from study.engine.tune.searcher import REQUEST
from study.gan.config import TrialConfig

pytest.importorskip("tensorboard")


def _trial(key, model="loss=ns", phase="grid"):
    req = TrialRequest(phase, model, key, TrialConfig())
    return SimpleNamespace(config={REQUEST: req}, last_result={"step": 20})


def test_scalars_and_grids_read_back_with_tensorboards_reader(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from study.engine.tune.tensorboard import TensorBoardCallback

    grid = np.arange(7 * 9, dtype=np.uint8).reshape(7, 9)
    (tmp_path / "samples" / "k1").mkdir(parents=True)
    Image.fromarray(grid, mode="L").save(tmp_path / "samples" / "k1" / "final.png")
    Image.fromarray(grid, mode="L").save(tmp_path / "samples" / "k1" / "step-000000010.png")
    cb = TensorBoardCallback(f"file://{tmp_path}")
    trial = _trial("k1")
    cb.on_trial_result(0, [], trial, {"step": 10, "fid": 30.5, "best_fid": 30.5, "d_loss": 1.25, "g_loss": 0.5,
                                      "kid": None, "pr_recall": float("nan")})
    cb.on_trial_result(0, [], trial, {"step": 20, "fid": 25.0, "best_fid": 25.0, "d_loss": 1.0, "g_loss": 0.75,
                                      "pr_precision": 0.5})
    cb.on_trial_complete(0, [], trial)
    run = tmp_path / "tensorboard" / "loss=ns" / "grid_k1"
    acc = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = acc.Tags()
    assert set(tags["scalars"]) == {"fid", "best_fid", "d_loss", "g_loss", "pr_precision"}  # None and NaN left out
    assert [(e.step, e.value) for e in acc.Scalars("fid")] == [(10, 30.5), (20, 25.0)]
    assert [(e.step, e.value) for e in acc.Scalars("d_loss")] == [(10, 1.25), (20, 1.0)]
    assert [(e.step, e.value) for e in acc.Scalars("pr_precision")] == [(20, 0.5)]
    assert set(tags["images"]) == {"samples/step", "samples/final"}
    final = acc.Images("samples/final")[0]
    assert (final.step, final.height, final.width) == (20, 7, 9)
    assert acc.Images("samples/step")[0].step == 10
    import io
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(final.encoded_image_string))), grid)
    assert cb.writers == {}


def test_the_callback_does_not_import_torch_into_the_driver():
    code = ("import sys; import study.engine.tune.tensorboard as t; "
            "from tensorboard.summary.writer.event_file_writer import EventFileWriter; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_fused_group_writes_one_run_per_member(tmp_path):
    """A fused group's reports carry its members' rows: each member gets its own run, and a
    member's repeated last row (not new) is not written twice."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from study.engine.request import MEMBERS, NEW, FusedRequest
    from study.engine.tune.tensorboard import TensorBoardCallback

    reqs = tuple(TrialRequest("bo", "loss=ns", key, TrialConfig()) for key in ("m0", "m1"))
    group = SimpleNamespace(config={REQUEST: FusedRequest(reqs)})
    cb = TensorBoardCallback(f"file://{tmp_path}")
    cb.on_trial_result(0, [], group, {MEMBERS: [{"trial_key": "m0", "step": 10, "fid": 40.0, NEW: True},
                                                {"trial_key": "m1", "step": 10, "fid": 30.0, NEW: True}]})
    final = {MEMBERS: [{"trial_key": "m0", "step": 10, "fid": 40.0, NEW: False},
                       {"trial_key": "m1", "step": 20, "fid": 20.0, NEW: True}]}
    cb.on_trial_result(0, [], group, final)
    group.last_result = final
    cb.on_trial_complete(0, [], group)
    fids = {}
    for key in ("m0", "m1"):
        acc = EventAccumulator(str(tmp_path / "tensorboard" / "loss=ns" / f"bo_{key}"),
                               size_guidance={"scalars": 0}).Reload()
        fids[key] = [(e.step, e.value) for e in acc.Scalars("fid")]
    assert fids == {"m0": [(10, 40.0)], "m1": [(10, 30.0), (20, 20.0)]}
    assert cb.writers == {}
