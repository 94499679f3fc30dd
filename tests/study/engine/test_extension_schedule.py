"""A grown study runs what an uninterrupted study of the larger file runs, and nothing that
finished again: the scheduler (PhasedScheduler with each model's Optuna journal) is driven to
the end on the old file, then on the grown file from the stored rows and the same journal, and
the trials of both drives together equal those of one drive on the grown file. No Ray."""
import pytest

from study.engine.bo import journal_storage
from study.engine.phases import PhasedScheduler
from study.engine.request import FINISHED
from study.engine.spec import parse_spec
from tests.study.engine.test_extension import BASE, changed


def fid_of(cfg) -> float:
    """A made-up FID that depends on every searched setting and the seed (so the best differs)."""
    return 10 + 1000 * cfg.lr + cfg.beta1 + 2 * cfg.beta2 + 0.01 * cfg.penalty_lambda + 0.1 * cfg.seed


def drive(spec, study_dir, stored=()) -> list[dict]:
    """Run a scheduler to the end, finishing the oldest in-flight trial whenever it waits; the
    final rows a store would hold (with ``stored`` first)."""
    sched = PhasedScheduler(spec, list(stored), log=lambda *a: None, storage=journal_storage(str(study_dir)))
    rows, live, i = list(stored), {}, 0

    def finish_oldest() -> None:
        tid, done = next(iter(live.items()))
        del live[tid]
        fid = fid_of(done.config)
        sched.on_trial_complete(tid, {"fid": fid, "status": "ok", "is_final": True})
        rows.append({**done.columns(spec.name), "is_final": True, "fid": fid, "status": "ok"})

    while (req := sched.suggest(f"t{i}")) != FINISHED:
        if req is None:
            finish_oldest()
            continue
        live[f"t{i}"] = req
        i += 1
    while live:
        finish_oldest()
    assert sched.done()
    return rows


def trials(rows) -> set[tuple]:
    return {(r["phase"], r["model"], r["bo_round"], r["trial_key"], r["lr"], r["beta1"], r["beta2"], r["seed"])
            for r in rows}


SMALL = {**BASE, "bo": {**BASE["bo"], "rounds": 2, "trials_per_round": 3}, "seeds": None}


@pytest.mark.parametrize("old,new", [
    (SMALL, changed("bo.rounds", 5, SMALL)),  # past TPE's 10 random start-up trials
    (SMALL, changed("grid.select", [1, 9, 12], SMALL)),
    (SMALL, changed("grid.seeds", [0, 3], SMALL)),
    (SMALL, changed("seeds", {"count": 2}, SMALL)),
    (changed("seeds", {"count": 2}, SMALL), changed("seeds", {"count": 4}, SMALL)),
    (SMALL, changed("factors.loss", ["ns", "wgan", "hinge"], SMALL)),
    (changed("grid", None, SMALL), SMALL),  # a grid phase added to a BO-only study
], ids=["bo-rounds", "grid-rows", "grid-seeds", "seeds-phase", "more-seeds", "new-level", "grid-phase"])
def test_a_grown_study_runs_what_an_uninterrupted_one_would_and_nothing_twice(tmp_path, old, new):
    old_spec, new_spec = parse_spec({k: v for k, v in old.items() if v is not None}), \
        parse_spec({k: v for k, v in new.items() if v is not None})
    whole = drive(new_spec, tmp_path / "whole")
    first = drive(old_spec, tmp_path / "grown")
    grown = drive(new_spec, tmp_path / "grown", stored=first)
    assert trials(grown) == trials(whole)
    assert len(grown) == len(whole) == len(trials(whole))  # nothing that finished ran again
    assert grown[:len(first)] == first
    assert len(first) < len(whole)


def test_new_metrics_are_computed_by_the_trials_still_to_come_and_nothing_finished_runs_again(tmp_path):
    old = parse_spec({**SMALL, "seeds": {"count": 1}})
    new = parse_spec(changed("trial.metrics", "fid+kid", {**SMALL, "seeds": {"count": 2}, "bo": {
        **SMALL["bo"], "rounds": 3}}))
    first = drive(old, tmp_path / "grown")
    grown = drive(new, tmp_path / "grown", stored=first)
    added = grown[len(first):]
    assert {r["metrics"] for r in first} == {"fid"} and {r["metrics"] for r in added} == {"fid+kid"}
    assert sorted((r["phase"], r["bo_round"]) for r in added if r["model"] == "loss=ns") == [
        ("bo", 2)] * 3 + [("seeds", None)]  # the third round and the second seed; no grid trial again
    # the settings BO suggests are those of an uninterrupted study with three rounds
    whole = drive(parse_spec({**SMALL, "bo": {**SMALL["bo"], "rounds": 3}}), tmp_path / "whole")
    settings = lambda rows: sorted((r["model"], r["bo_round"], r["lr"], r["beta1"], r["beta2"])  # noqa: E731
                                   for r in rows if r["phase"] == "bo")
    assert settings(grown) == settings(whole)
