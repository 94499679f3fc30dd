"""Early-stopped trials are kept apart by the analysis (left out of the comparisons unless
asked for, counted in the outcomes), and the report shows each model's best sample grid."""
import numpy as np
from PIL import Image

import analysis
from analysis.report import build_report
from analysis.top import outcome_fractions
from study.engine.store import ResultsStore
from study.gan.config import TrialConfig


def _study(path):
    store = ResultsStore(str(path))
    rows = [("a", "loss=ns", "ok", 30.0), ("b", "loss=ns", "stopped", 80.0), ("c", "loss=ns", "ok", 20.0),
            ("d", "loss=wgan", "ok", 50.0), ("e", "loss=wgan", "stopped", 90.0), ("f", "loss=wgan", "diverged", None)]
    for key, model, status, fid in rows:
        cfg = TrialConfig.from_dict({"loss": model.split("=")[1]})
        store.write_trial(key, [{"study": "s", "phase": "grid", "model": model, "trial_key": key, **cfg.to_dict(),
                                 "step": 100 if status != "stopped" else 20, "fid": fid, "is_final": True,
                                 "status": status, "feature_extractor": "digits", "fid_samples": 360,
                                 "fid_split": "test"}])
    return path


def test_load_leaves_stopped_trials_out_unless_asked_and_says_how_many(tmp_path):
    root = _study(tmp_path)
    df = analysis.load(str(root))
    assert sorted(df["trial_key"]) == ["a", "c", "d", "f"] and df.attrs["stopped_left_out"] == 2
    every = analysis.load(str(root), stopped=True)
    assert len(every) == 6 and every.attrs["stopped_left_out"] == 0
    top = analysis.top_fraction(df, "model", fraction=0.5)  # n = 2 per model: k = 1
    assert dict(zip(top["model"].astype(str), top["fid"])) == {"loss=ns": 20.0, "loss=wgan": 50.0}
    frac = outcome_fractions(every, "model")
    assert list(frac.columns) == ["trials", "ok", "diverged", "failed", "stopped"]
    assert frac.loc["loss=wgan"].tolist() == [3, 1 / 3, 1 / 3, 0.0, 1 / 3]
    assert "stopped" not in outcome_fractions(df, "model")


def test_report_notes_the_stopped_trials_and_shows_each_models_best_grid(tmp_path):
    root = _study(tmp_path / "study")
    for key, value in (("c", 40), ("d", 200)):  # the best trial of each model
        (root / "samples" / key).mkdir(parents=True)
        Image.fromarray(np.full((6, 6), value, np.uint8), mode="L").save(root / "samples" / key / "final.png")
    report = build_report(str(root), tmp_path / "report")
    page, md = report.html.read_text(), report.markdown.read_text()
    assert "2 trials stopped early are left out of the top-5% tables" in page and "2 trials stopped early" in md
    assert "Samples of the best trial per model" in page and "FID 20<" in page.replace("</figcaption>", "<")
    copied = sorted((tmp_path / "report" / "figures" / "samples").iterdir())
    assert [np.asarray(Image.open(p)).max() for p in copied] == [40, 200]  # loss=ns then loss=wgan
