"""`gan-study rescore` on a study directory of real trials (no Ray): kept generators re-evaluated on
the study's protocol give the study's own values back where the metric is the same; new metrics
land beside results/ (untouched), one row per generator and metric; a second run does only what
is missing; the analysis reads both."""
import hashlib

import pandas as pd
import pytest

import analysis
from study.cli import main
from study.engine.rescore import COLUMNS, RESCORE, RescoreOptions, file_name, protocol, rescore
from study.engine.store import ResultsStore
from study.gan.artifacts import ArtifactDir
from study.gan.config import TrialConfig
from study.gan.errors import ConfigError
from study.gan.metrics.evaluator import METRICS
from study.gan.trial import run_trial

TINY = dict(width=0.125, z_dim=16, batch_size=32, steps=40, eval_every=20, resolution=8, eval_samples=200,
            sample_grid=4, metrics="fid+kid+pr")
EVAL_COLUMNS = ("step", "fid", "best_fid", "status", "is_final", "kid", "kid_std", "pr_precision", "pr_recall",
                "feature_extractor", "fid_samples", "fid_split")
TRIALS = (("k1", "loss=ns", 1), ("k2", "loss=ns", 2), ("k3", "loss=hinge", 3))


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """Three trials (two models) whose every evaluation computed fid, kid and pr; every trial's
    generator kept (the driver would keep keep_generators per model; export ranks them)."""
    root = tmp_path_factory.mktemp("study")
    store = ResultsStore(str(root))
    for key, model, seed in TRIALS:
        cfg = TrialConfig.from_dict({**TINY, "seed": seed, "loss": model.split("=")[1]})
        rows = []
        run_trial(cfg, rows.append, artifacts=ArtifactDir(str(root), key))
        ident = {"study": "s", "phase": "grid", "model": model, "trial_key": key, **cfg.to_dict()}
        store.write_trial(key, [{**ident, **{k: r[k] for k in EVAL_COLUMNS}} for r in rows])
    return root


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _best_rows(study_dir) -> dict[str, dict]:
    """Each trial's row of the evaluation its kept generator comes from (fid == best_fid)."""
    rows = ResultsStore(str(study_dir), create=False).table().to_pylist()
    finals = {r["trial_key"]: r["best_fid"] for r in rows if r["is_final"]}
    return {r["trial_key"]: r for r in rows if r["fid"] == finals[r["trial_key"]]}


def test_the_studys_own_metrics_come_back_equal_and_results_are_untouched(study_dir):
    before = _digest(study_dir / "results")
    done = rescore(str(study_dir), RescoreOptions.parse("kid+pr", device="cpu"), log=lambda *_: None)
    assert (done.scored, done.skipped, done.failed) == (3, 0, {})
    assert _digest(study_dir / "results") == before
    rows = analysis.load_rescored(str(study_dir))
    assert len(rows) == 3 * 5 == done.rows  # fid, kid, kid_std, pr_precision, pr_recall per generator
    best = _best_rows(study_dir)
    for r in rows.itertuples():
        assert r.value == pytest.approx(best[r.trial_key][r.metric], rel=1e-9, abs=1e-12), (r.trial_key, r.metric)
        assert r.feature_extractor == "digits" and r.fid_samples == 200 and r.fid_split == "test"
        assert len(r.feature_weights_sha256) == 64 and len(r.generator_sha256) == 64
    assert set(rows["metric_name"]) == {"fid", "kid", "pr"}


def test_new_metrics_are_added_and_a_second_run_does_only_what_is_missing(study_dir, tmp_path):
    rescore(str(study_dir), RescoreOptions.parse("dc", device="cpu"), log=lambda *_: None)
    files = sorted((study_dir / RESCORE).glob("*.parquet"))
    stamps = {p.name: p.stat().st_mtime_ns for p in files}
    again = rescore(str(study_dir), RescoreOptions.parse("dc", device="cpu"), log=lambda *_: None)
    assert (again.scored, again.skipped) == (0, 3)
    assert {p.name: p.stat().st_mtime_ns for p in files} == stamps
    dc_files = [p for p in files if "dc_coverage" in set(pd.read_parquet(p)["metric"])]
    dc_files[0].unlink()
    dc_files[1].write_bytes(dc_files[1].read_bytes()[:50])  # a damaged file is scored again, not fatal
    third = rescore(str(study_dir), RescoreOptions.parse("dc", device="cpu"), log=lambda *_: None)
    assert (third.scored, third.skipped) == (2, 1)
    rows = analysis.load_rescored(str(study_dir))
    coverage = rows[rows["metric"] == "dc_coverage"]
    assert len(coverage) == 3 and coverage["value"].between(0, 1).all()


def test_the_analysis_joins_rescored_columns_to_their_trials(study_dir):
    rescore(str(study_dir), RescoreOptions.parse("kid", device="cpu"), log=lambda *_: None)
    df = analysis.with_rescores(analysis.load(str(study_dir)), analysis.load_rescored(str(study_dir)))
    assert {"fid@digits", "kid@digits"} <= set(df.columns)
    assert len(df) == 3
    for key, fid, best in zip(df["trial_key"].astype(str), df["fid@digits"], df["best_fid"]):
        assert fid == pytest.approx(best, rel=1e-9), key


def test_every_metric_the_evaluator_knows_is_rescorable():
    assert set(COLUMNS) >= set(METRICS)


@pytest.mark.parametrize("argv, message", [
    (["--metrics", "fid+bogus"], "--metrics: invalid value 'fid+bogus'; allowed:"),
    (["--metrics", "kid", "--feature-extractor", "vgg"], "--feature-extractor: invalid value 'vgg'; allowed:"),
    (["--metrics", "kid", "--fid-resize", "nearest"], "--fid-resize: invalid value 'nearest'; allowed:"),
])
def test_bad_options_are_refused_by_name(study_dir, argv, message, capsys):
    before = _digest(study_dir)
    assert main(["rescore", str(study_dir), *argv]) == 2
    assert message in capsys.readouterr().err
    assert _digest(study_dir) == before


def test_a_question_the_generators_configs_refuse_stops_before_writing(study_dir, capsys):
    before = _digest(study_dir)
    assert main(["rescore", str(study_dir), "--metrics", "intra_fid"]) == 2  # the study is not conditional
    err = capsys.readouterr().err
    assert "--metrics / --feature-extractor / --feature-weights / --fid-resize:" in err and "intra_fid" in err
    assert _digest(study_dir) == before


def test_another_feature_space_never_inherits_the_studys_weights_file():
    cfg = TrialConfig.from_dict({"feature_extractor": "inception", "feature_weights": "/w/inception.pt"})
    assert protocol(cfg, RescoreOptions(metrics=("fid",), feature_extractor="digits")) == {
        "metrics": "fid", "feature_extractor": "digits", "feature_weights": ""}
    assert protocol(cfg, RescoreOptions(metrics=("kid",), feature_extractor="inception")) == {"metrics": "kid"}
    assert protocol(cfg, RescoreOptions(metrics=("kid",), feature_weights="/w/other.pt")) == {
        "metrics": "kid", "feature_weights": "/w/other.pt"}


def test_other_weights_behind_the_same_path_are_another_question():
    cfg = TrialConfig.from_dict({})
    names = {file_name("k", "g" * 64, cfg, ["fid"], {"feature_weights_sha256": sha}) for sha in ("a" * 64, "b" * 64)}
    assert len(names) == 2 and all(n.startswith("k-") and n.endswith(".parquet") for n in names)
    assert file_name("k", "g" * 64, cfg, ["kid", "fid"], {}) == file_name("k", "g" * 64, cfg, ["fid", "kid"], {})


def test_a_study_without_kept_generators_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert main(["rescore", str(tmp_path), "--metrics", "kid"]) == 2
    assert "keeps no generators" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--metrics"):
        RescoreOptions.parse("")


@pytest.fixture(scope="module")
def vits_file(tmp_path_factory):
    """Random weights of the real ViT-S/14 shape (timm format): weights change values, not the path."""
    from study.gan.metrics.torchvision_import import import_timm

    try:
        timm = import_timm()
    except ImportError:
        pytest.skip("timm is not installed (pip install -e '.[dinov2]')")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=518)
    path = tmp_path_factory.mktemp("vits") / "dinov2_vits14.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.slow
def test_a_study_is_scored_in_dinov2_space_from_a_weights_file(tmp_path, vits_file):
    """A study of one trial that compares 24 samples with 24 real images (ViT-S at 224 px costs
    about a tenth of a second an image here)."""
    from study.gan.hashing import sha256_of

    cfg = TrialConfig.from_dict({**TINY, "eval_samples": 24, "eval_real_samples": 24, "metrics": "fid"})
    run_trial(cfg, lambda row: None, artifacts=ArtifactDir(str(tmp_path), "k1"))
    ResultsStore(str(tmp_path)).write_trial("k1", [{"study": "s", "phase": "grid", "model": "m", "trial_key": "k1",
                                                     **cfg.to_dict(), "step": 40, "fid": 1.0, "best_fid": 1.0,
                                                     "status": "ok", "is_final": True}])
    done = rescore(str(tmp_path), RescoreOptions.parse("fid+pr", feature_extractor="dinov2_vits14",
                                                       feature_weights=str(vits_file), device="cpu"),
                   log=lambda *_: None)
    assert (done.scored, done.failed) == (1, {})
    dino = analysis.load_rescored(str(tmp_path))
    assert len(dino) == 3 and set(dino["metric"]) == {"fid", "pr_precision", "pr_recall"}
    assert set(dino["feature_extractor"]) == {"dinov2_vits14"} and set(dino["fid_samples"]) == {24}
    assert set(dino["feature_weights_sha256"]) == {sha256_of(vits_file)}
    assert dino["value"].notna().all() and (dino[dino["metric"] == "fid"]["value"] > 0).all()


def test_a_missing_dinov2_weights_file_is_refused_before_anything_is_written(study_dir, tmp_path, capsys):
    before = _digest(study_dir)
    assert main(["rescore", str(study_dir), "--metrics", "fid", "--feature-extractor", "dinov2_vitl14",
                 "--feature-weights", str(tmp_path / "absent.pth")]) == 2
    err = capsys.readouterr().err
    assert "--feature-extractor dinov2_vitl14 / --feature-weights" in err and "absent.pth" in err
    assert _digest(study_dir) == before
