"""`gan-study status`: counts per phase and model from the study directory alone."""
import datetime as dt

import yaml

from study.cli import main
from study.engine.spec import parse_spec
from study.engine.status import study_status
from study.engine.store import ResultsStore

STUDY = {"name": "st", "factors": {"loss": ["ns", "wgan"]}, "trial": {"steps": 10, "eval_every": 5},
         "grid": {"select": [1, 9]}, "bo": {"rounds": 2, "trials_per_round": 3, "sampler": "tpe"},
         "seeds": {"count": 4}}


def test_status_counts_done_running_pending_and_best(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    spec = parse_spec(STUDY)
    store = ResultsStore(str(tmp_path))
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    (m_ns, _, c1), (_, _, c2) = spec.grid_trials()[:2]

    def row(cfg, key, step, fid, final, status="ok", phase="grid", model=m_ns.name):
        return {"study": "st", "phase": phase, "model": model, "trial_key": key, **cfg.to_dict(), "step": step,
                "fid": fid, "is_final": final, "status": status, "timestamp": ts}

    store.write_trial("a", [row(c1, "a", 5, 30.0, False), row(c1, "a", 10, 20.0, True)])  # done
    store.write_trial("b", [row(c2, "b", 5, 15.0, False)])  # running, best so far 15
    store.write_trial("c", [row(c1, "c", 3, float("nan"), True, "diverged", "bo")])
    table = study_status(tmp_path)
    g = table.loc[("grid", "loss=ns")]
    assert (g["expected"], g["ok"], g["running"], g["pending"], g["best_fid"]) == (2, 1, 1, 0, 15.0)
    b = table.loc[("bo", "loss=ns")]
    assert (b["expected"], b["diverged"], b["pending"]) == (6, 1, 5)
    assert table.loc[("grid", "loss=wgan"), "pending"] == 2
    assert table.loc[("seeds", "loss=ns"), "expected"] == 4
    assert main(["status", str(tmp_path)]) == 0
    assert "expected=24 ok=1 diverged=1 failed=0 stopped=0 running=1 pending=21" in capsys.readouterr().out
    # --watch: the table again with a progress bar, every SECONDS, until nothing is pending (here: 2 refreshes)
    assert main(["status", str(tmp_path), "--watch", "0.01", "--refreshes", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("expected=24 ok=1") == 2
    assert out.count("[" + "#" * 3 + "-" * 37 + "] 2/24 trials finished (8%)") == 2  # ok and diverged are finished


def test_status_of_a_directory_that_is_not_a_study(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "no study.yaml" in capsys.readouterr().err


def test_a_finished_model_without_a_finite_fid_expects_no_seed_trials(tmp_path):
    study = {"name": "st", "factors": {"loss": ["ns", "wgan"]}, "trial": {"steps": 10, "eval_every": 5},
             "grid": {"select": [1]}, "seeds": {"count": 3, "from": ["grid"]}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    spec = parse_spec(study)
    store = ResultsStore(str(tmp_path))
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for (model, _, cfg), (key, fid, status) in zip(spec.grid_trials(), [("a", 20.0, "ok"),
                                                                         ("b", float("nan"), "diverged")]):
        store.write_trial(key, [{"study": "st", "phase": "grid", "model": model.name, "trial_key": key,
                                 **cfg.to_dict(), "step": 10, "fid": fid, "is_final": True, "status": status,
                                 "timestamp": ts}])
    table = study_status(tmp_path)
    assert table.loc[("seeds", "loss=wgan"), "expected"] == 0 and table.loc[("seeds", "loss=wgan"), "pending"] == 0
    assert table.loc[("seeds", "loss=ns"), "pending"] == 3  # ns has a best setting: its seeds are to come


def test_status_reads_past_a_damaged_file_and_names_it(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.parquet").write_bytes(b"junk")
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "x.parquet: unreadable Parquet" in out and "left out" in out


def test_progress_bar_and_a_finished_study_ends_the_watch(tmp_path, capsys):
    from study.engine.status import progress_bar

    assert progress_bar(12, 36, width=12) == "[####--------] 12/36 trials finished (33%)"
    assert progress_bar(0, 0, width=4) == "[####] 0/0 trials finished (100%)"
    study = {"name": "one", "trial": {"steps": 10, "eval_every": 5}, "grid": {"select": [1]}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    spec = parse_spec(study)
    (model, _, cfg), = spec.grid_trials()
    ResultsStore(str(tmp_path)).write_trial("k", [{"study": "one", "phase": "grid", "model": model.name,
                                                   "trial_key": "k", **cfg.to_dict(), "step": 10, "fid": 3.0,
                                                   "is_final": True, "status": "stopped"}])
    assert main(["status", str(tmp_path), "--watch", "60"]) == 0  # returns at once: nothing left to wait for
    out = capsys.readouterr().out
    assert "stopped=1" in out and "1/1 trials finished (100%)" in out

