"""Driver pieces that need no Ray cluster."""
import builtins

from ray import cloudpickle

from study.engine.driver import Log


def test_the_progress_printer_pickles_after_print_was_replaced(monkeypatch, capsys):
    # Ray's tqdm support swaps builtins.print in the driver; Tune then pickles the callbacks
    original = builtins.print
    lines = []
    monkeypatch.setattr(builtins, "print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    try:
        cloudpickle.dumps(original)
    except Exception:  # noqa: BLE001 - the failure this guards against
        pass
    else:
        raise AssertionError("expected the replaced print to be unpicklable by reference")
    log = cloudpickle.loads(cloudpickle.dumps(Log(original)))
    log("after the round trip")  # prints through whatever print is now
    assert lines == ["after the round trip"]
    seen = []
    Log(seen.append)("direct")
    assert seen == ["direct"]


def _study(data_dir):
    return {"name": "real", "factors": {"loss": ["ns", "hinge"]},
            "trial": {"dataset": "cifar10", "channels": 3, "resolution": 32, "data_dir": str(data_dir)},
            "grid": {"select": [1]}}


def test_a_study_on_absent_data_parses_and_is_refused_before_anything_is_written(tmp_path):
    import pytest
    import yaml

    from study.engine.driver import run_study
    from study.engine.spec import parse_spec
    from study.gan.data.errors import DataError

    spec = parse_spec(_study(tmp_path / "no-data"))  # presets validate without the data present
    out = tmp_path / "study"
    with pytest.raises(DataError, match=r"dataset 'cifar10': .*no-data: no such directory; expected cifar-10"):
        run_study(spec, yaml.safe_dump(_study(tmp_path / "no-data")), out)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_driver_prepares_each_dataset_setting_once(tmp_path, monkeypatch):
    from study.engine.driver import prepare_data
    from study.engine.spec import parse_spec
    from tests.study.gan.data import fakes

    fakes.cifar10_dir(tmp_path)
    lines = []
    done = prepare_data(parse_spec(_study(tmp_path)), lines.append)
    assert len(done) == 1 and sum(line.startswith("preparing cifar10") for line in lines) == 1
    assert (tmp_path / "prepared" / "cifar10-32px-center_crop_resize" / "manifest.json").is_file()
