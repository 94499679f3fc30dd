"""Issue 22: a trial that runs out of memory ends as ``failed`` with one clear line in its row and
in the driver's output, never a traceback there; on real Ray, through the real trainable."""
import pytest
import torch
import yaml

from study.engine.driver import run_study
from study.engine.spec import parse_spec
from study.engine.store import ResultsStore
from study.gan.memory import out_of_memory

pytestmark = pytest.mark.ray
ALLOC = "CUDA out of memory. Tried to allocate 119.21 GiB (GPU 0; 79.11 GiB total capacity)"


def _with(module: str, name: str, fake, config) -> None:
    """The real trainable on ``config``, with ``module.name`` replaced by ``fake`` (in the worker) for the call."""
    import importlib

    from study.engine.tune.trainable import tune_trainable

    target = importlib.import_module(module)
    original = getattr(target, name)
    setattr(target, name, fake)
    try:
        tune_trainable(config)
    finally:
        setattr(target, name, original)


def oom_after_one_evaluation(config):
    """A trial that evaluates once and then fails to allocate."""
    def run_trial(cfg, report, **_):
        report({"step": 5, "fid": 50.0, "best_fid": 50.0, "is_final": False, "status": "ok"})
        raise torch.OutOfMemoryError(ALLOC)

    _with("study.gan.trial", "run_trial", run_trial, config)


def test_an_out_of_memory_trial_is_failed_with_one_line(ray_local, tmp_path, capfd):
    study = {"name": "oom", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [1]},
             "resources": {"cpu": 1}, "max_failures": 1}
    said = []
    run = run_study(parse_spec(study), yaml.safe_dump(study), tmp_path, log=said.append,
                    trainable=oom_after_one_evaluation)
    assert run.outcomes == {"failed": 1}
    rows = sorted(ResultsStore(str(tmp_path)).table().to_pylist(), key=lambda r: r["step"])
    assert [(r["step"], r["status"], r["is_final"]) for r in rows] == [(5, "ok", False), (6, "failed", True)]
    want = f"out of memory (OutOfMemoryError: {ALLOC}); lower trial.batch_size, z_dim or width"
    assert rows[-1]["error"] == want
    assert any(line.rstrip().endswith(want) for line in said)  # the driver's line for the trial
    out = capfd.readouterr()
    assert "Traceback" not in out.out + out.err and "Traceback" not in "\n".join(said)


@pytest.mark.parametrize(("error", "oom"), [
    (torch.OutOfMemoryError("CUDA out of memory."), True), (MemoryError(), True),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                  "you tried to allocate 128000000000 bytes. Error code 12 (Cannot allocate memory)"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False), (ValueError("out of memory"), False)])
def test_only_allocation_failures_count_as_out_of_memory(error, oom):
    assert (out_of_memory(error) is not None) == oom


def oom_group_after_one_evaluation(config):
    """A fused group that evaluates once and then fails to allocate."""
    def run_group(configs, report, **_):
        report([{"step": 5, "fid": 50.0 + i, "best_fid": 50.0 + i, "is_final": False, "status": "ok"}
                for i in range(len(configs))], [None] * len(configs))
        raise torch.OutOfMemoryError(ALLOC)

    _with("study.gan.training.loop", "run_group", run_group, config)


def test_an_out_of_memory_fused_group_fails_each_member_with_one_line(ray_local, tmp_path, capfd):
    study = {"name": "oomfused", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [1], "seeds": [0, 1]},
             "resources": {"cpu": 1, "fuse": 2}, "max_failures": 1}
    said = []
    run = run_study(parse_spec(study), yaml.safe_dump(study), tmp_path, log=said.append,
                    trainable=oom_group_after_one_evaluation)
    assert run.outcomes == {"failed": 2}
    final = [r for r in ResultsStore(str(tmp_path)).table().to_pylist() if r["is_final"]]
    want = f"out of memory (OutOfMemoryError: {ALLOC}); lower trial.batch_size, z_dim or width"
    assert sorted((r["step"], r["status"], r["error"]) for r in final) == [(6, "failed", want)] * 2
    out = capfd.readouterr()
    assert "Traceback" not in out.out + out.err and "Traceback" not in "\n".join(said)
