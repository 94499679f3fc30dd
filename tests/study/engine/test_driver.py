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


def test_the_feature_spaces_are_checked_before_the_data_is_prepared(tmp_path, monkeypatch):
    import pytest
    import yaml

    from study.engine.driver import run_study
    from study.engine.spec import parse_spec
    from study.gan.config import ConfigError
    from study.gan.metrics import dinov2

    monkeypatch.delenv(dinov2.ENV_PATH, raising=False)
    study = _study(tmp_path / "no-data")  # absent data would be a DataError, after minutes on real data
    study["trial"]["feature_extractor"] = "dinov2_vits14"
    out = tmp_path / "study"
    with pytest.raises(ConfigError, match=r"trial\.feature_extractor: dinov2_vits14 cannot be computed"):
        run_study(parse_spec(study), yaml.safe_dump(study), out)
    assert not out.exists()


# ---- a resumed study keeps its feature spaces' weights -------------------------------------------
def _inception_files(tmp_path, monkeypatch):
    """Two small files that pass for known Inception weights (the check hashes them, builds nothing)."""
    from study.gan.hashing import sha256_of
    from study.gan.metrics import inception_weights

    files = []
    for i in range(2):
        path = tmp_path / f"inception-{i}.pt"
        path.write_bytes(f"inception weights {i}".encode())
        files.append((path, sha256_of(path)))
    known = {sha: inception_weights.KnownWeights(sha, path.stat().st_size, "torchscript_pool3", path.name)
             for path, sha in files}
    monkeypatch.setattr(inception_weights, "KNOWN", known)
    return files


def _inception_study(**trial):
    return {"name": "inc", "factors": {"loss": ["ns"]}, "grid": {"preset": "kurach2019", "select": [1]},
            "trial": {"feature_extractor": "inception", "steps": 2, "eval_every": 2, **trial}}


def _write_rows(store, spec, key: str, **columns) -> None:
    model = spec.models()[0]
    store.write_trial(key, [{"study": spec.name, "phase": "grid", "model": model.name, "trial_key": key,
                             **spec.config(model).to_dict(), "step": 2, "fid": 10.0, "is_final": False,
                             "status": "ok", **columns}])


def _tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_a_resumed_study_refuses_other_weights_before_anything_is_written(tmp_path, monkeypatch):
    import pytest
    import yaml

    from study.engine.driver import check_weights, record_spec, run_study, study_uri
    from study.engine.spec import parse_spec
    from study.engine.store import ResultsStore
    from study.gan.config import ConfigError
    from study.gan.metrics import inception_weights

    (a, sha_a), (b, sha_b) = _inception_files(tmp_path, monkeypatch)
    study = _inception_study()
    spec, text, out = parse_spec(study), yaml.safe_dump(study), tmp_path / "study"
    record_spec(text, study_uri(out))
    _write_rows(ResultsStore(study_uri(out)), spec, "k1", feature_extractor="inception", feature_weights_sha256=sha_a)
    before = _tree(out)
    monkeypatch.setenv(inception_weights.ENV_PATH, str(b))
    with pytest.raises(ConfigError) as refused:
        run_study(spec, text, out)
    message = str(refused.value)
    assert message.startswith(f"${inception_weights.ENV_PATH}") and "loss=ns" in message
    assert f"has sha256 {sha_b}" in message and f"feature_weights_sha256 {sha_a}" in message
    assert "allowed: the file of sha256" in message and "new study directory" in message
    assert _tree(out) == before  # nothing written, no lock taken
    monkeypatch.setenv(inception_weights.ENV_PATH, str(a))
    check_weights(spec, ResultsStore(study_uri(out), create=False), log=lambda *_: None)  # the same file: allowed


def test_rows_from_before_the_weights_columns_say_nothing_and_the_field_is_named(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    import pytest

    from study.engine.driver import check_weights, stored_weights
    from study.engine.spec import parse_spec
    from study.engine.store import ResultsStore
    from study.gan.config import ConfigError

    (a, sha_a), (b, sha_b) = _inception_files(tmp_path, monkeypatch)
    spec = parse_spec(_inception_study(feature_weights=str(b)))
    store = ResultsStore(str(tmp_path / "study"))
    _write_rows(store, spec, "old", feature_extractor="inception")
    old = pq.read_table(store.path("old"))  # a file written before the columns existed
    pq.write_table(old.drop_columns(["feature_weights_sha256", "fd_dinov2_weights_sha256"]), store.path("old"))
    _write_rows(store, spec, "blank", feature_extractor="inception", feature_weights_sha256="")
    assert stored_weights(store) == {}
    check_weights(spec, store, log=lambda *_: None)  # unknown weights: nothing to compare with
    _write_rows(store, spec, "new", feature_extractor="inception", feature_weights_sha256=sha_a,
                fd_dinov2_weights_sha256="d" * 64)
    assert stored_weights(store) == {("loss=ns", "feature_weights_sha256", "inception"): {sha_a},
                                     ("loss=ns", "fd_dinov2_weights_sha256", "dinov2_vitl14"): {"d" * 64}}
    with pytest.raises(ConfigError, match=rf"^trial\.feature_weights: the weights file has sha256 {sha_b}, .* {sha_a}"):
        check_weights(spec, store, log=lambda *_: None)
