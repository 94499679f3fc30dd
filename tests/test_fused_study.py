"""A study with ``resources.fuse`` on real Ray: fused groups are invisible in the results.

The same study run fused and unfused has the same trials (keys, BO settings, seeds) and the
same rows, bit for bit (a member steps as its trial alone, study/gan/training/); each member has its own rows and
Optuna trial; a fused group whose worker is killed is retried from its checkpoint, every
member's evaluations stored once."""

import optuna
import pandas as pd
import pytest
import yaml

import analysis
from study.engine.driver import run_study
from study.engine.spec import parse_spec
from tests.helpers import kill_trials_when

pytestmark = pytest.mark.ray

STUDY = {
    "name": "fused",
    "factors": {"loss": ["ns", "wgan"]},
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 30, "eval_every": 15,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0, 1, 2]},
    "bo": {"rounds": 2, "trials_per_round": 3, "sampler": "tpe", "seed": 0},
    "seeds": {"count": 2, "from": ["grid", "bo"]},
    "resources": {"cpu": 1},
}


def run(path, fuse):
    study = {**STUDY, "resources": {"cpu": 1, "fuse": fuse}}
    return run_study(parse_spec(study), yaml.safe_dump(study), path)


@pytest.fixture(scope="module")
def both(ray_local, tmp_path_factory):
    fused, alone = tmp_path_factory.mktemp("fused"), tmp_path_factory.mktemp("alone")
    return (fused, run(fused, 4)), (alone, run(alone, 1))


def finals(path):
    rows = analysis.load_rows(str(path))
    return rows, rows[rows["is_final"]].set_index("trial_key")


def test_fused_and_unfused_studies_have_the_same_trials_and_fids(both):
    (fused, run_f), (alone, run_a) = both
    rows_f, f = finals(fused)
    rows_a, a = finals(alone)
    assert run_f.outcomes == run_a.outcomes == {"ok": 22}  # grid 2 x 3, BO 2 x 2 x 3, seeds 2 x 2
    assert sorted(f.index) == sorted(a.index)  # same settings, seeds and keys in every phase
    a = a.loc[f.index]
    numbers = ["fid", "best_fid", "d_loss", "g_loss"]
    every_f = rows_f.set_index(["trial_key", "step"]).sort_index()[numbers]
    every_a = rows_a.set_index(["trial_key", "step"]).sort_index()[numbers]
    pd.testing.assert_frame_equal(every_f, every_a, check_exact=True)  # every evaluation, not only the last
    assert (f[["lr", "beta1", "beta2", "seed", "bo_round"]].fillna(-1) ==
            a[["lr", "beta1", "beta2", "seed", "bo_round"]].fillna(-1)).all().all()
    # each member has its own rows: two evaluations per trial, as alone
    assert rows_f.groupby("trial_key").size().eq(2).all()
    assert set(f["fused_members"]) == {3, 2} and set(a["fused_members"]) == {1}
    assert (f["step_mode_used"] == "eager").all()


def test_fused_groups_are_fewer_tune_trials_and_every_member_is_an_optuna_trial(both):
    (fused, _), (alone, _) = both
    tune_trials = lambda p: [d for d in (p / "ray" / "study").iterdir() if d.is_dir()]  # noqa: E731
    # grid: a group of 3 per model; BO: a group per model and round; seeds: a group of 2 per model
    assert len(tune_trials(fused)) == 2 + 4 + 2 and len(tune_trials(alone)) == 22
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(fused / "optuna" / "journal.log")))
    for model in ("loss=ns", "loss=wgan"):
        trials = optuna.load_study(study_name=model, storage=storage).get_trials()
        assert sorted(t.user_attrs["bo_round"] for t in trials) == [0, 0, 0, 1, 1, 1]
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_a_killed_fused_group_is_retried_from_its_checkpoint(ray_local, tmp_path):
    study = {"name": "crashfused", "trial": {**STUDY["trial"], "steps": 3000, "eval_every": 300},
             "grid": {"preset": "kurach2019", "select": [1], "seeds": [0, 1]}, "max_failures": 2,
             "resources": {"cpu": 1, "fuse": 2}}
    thread, killed = kill_trials_when(  # both members past their second evaluation, none final
        tmp_path / "results", lambda rows: rows["trial_key"].nunique() == 2 and (rows["step"] >= 600).sum() == 2
        and not rows["is_final"].any())
    run_study(parse_spec(study), yaml.safe_dump(study), tmp_path, flush_every_s=0)
    thread.join(timeout=5)
    assert killed, "the group finished before it could be killed"
    rows = pd.read_parquet(tmp_path / "results")
    for _, member in rows.groupby("trial_key"):
        assert sorted(member["step"]) == list(range(300, 3001, 300))  # every evaluation once
        final = member[member["is_final"]]
        assert len(final) == 1 and final["status"].iloc[0] == "ok" and final["fused_members"].iloc[0] == 2
        assert final["restored_from_step"].iloc[0] >= 300
    assert rows["trial_key"].nunique() == 2
    assert list((tmp_path / "ray").rglob("checkpoint_*")) == []  # finished: its checkpoint is gone
