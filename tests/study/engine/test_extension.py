"""Which changes of a study file an existing study accepts (study/engine/extension.py), and the
refusal message: every refused field with its old and new value. No Ray."""
import copy

import pytest

from study.engine.extension import History, check_extension, history_of, refused_changes
from study.engine.spec import parse_spec
from study.gan.config import ConfigError

BASE = {
    "name": "grow",
    "factors": {"loss": ["ns", "wgan"]},
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "steps": 40, "eval_every": 20, "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1, 9], "seeds": [0]},
    "bo": {"rounds": 2, "trials_per_round": 2, "sampler": "tpe", "seed": 0},
    "seeds": {"count": 2},
}
RAN = History(bo_models=frozenset({"loss=ns", "loss=wgan"}), grid_ran=True, seeds_ran=False)


def changed(path: str, value, base=BASE):
    """A copy of ``base`` with the dotted ``path`` set to ``value`` (None removes it)."""
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return out


@pytest.mark.parametrize("path,value", [
    ("bo.rounds", 5),  # more BO rounds
    ("grid.select", [1, 9, 12]),  # more grid rows
    ("grid.seeds", [0, 1]),  # more grid seeds
    ("seeds.count", 5),  # more seeds in the seeds phase
    ("factors.loss", ["ns", "wgan", "hinge"]),  # a new level: a new model
    ("resources", {"cpu": 2, "fuse": 2}),  # how trials run, not what they compute
    ("trial.threads", 2),  # an execution-only setting
    ("keep_generators", 3),
    ("max_failures", 4),
    ("trial.metrics", "kid+pr"),  # new metrics, for evaluations still to come
])
def test_a_change_that_only_adds_is_accepted(path, value):
    assert refused_changes(parse_spec(BASE), parse_spec(changed(path, value)), RAN) == []


def test_a_seeds_phase_can_be_added_after_grid_and_bo():
    assert refused_changes(parse_spec(changed("seeds", None)), parse_spec(BASE), RAN) == []


def test_a_bo_phase_and_bo_settings_may_change_while_no_model_has_bo_trials():
    no_bo = parse_spec(changed("bo", None))
    assert refused_changes(no_bo, parse_spec(BASE), RAN) == []
    other = parse_spec(changed("bo.sampler", "random"))
    assert refused_changes(parse_spec(BASE), other, History(grid_ran=True)) == []


@pytest.mark.parametrize("path,value,line", [
    ("trial.steps", 80, "trial.steps: 40 -> 80"),
    ("trial.eval_samples", 500, "trial.eval_samples: 200 -> 500"),
    ("trial.resolution", 16, "trial.resolution: 8 -> 16"),
    ("trial.metrics", "kid", "trial.metrics: 'fid+pr' -> 'kid'"),  # a metric dropped (BASE below has fid+pr)
    ("trial.feature_extractor", "inception", "trial.feature_extractor: 'digits' -> 'inception'"),
    ("name", "grown", "name: 'grow' -> 'grown'"),
    ("factors.loss", ["ns"], "factors.loss: ['ns', 'wgan'] -> ['ns']"),
    ("factors.d_norm", ["none", "sn"], "factors: ['loss'] -> ['loss', 'd_norm']"),
    ("grid.select", [1], "grid.select: [1, 9] -> [1]"),
    ("grid.seeds", [1], "grid.seeds: [0] -> [1]"),
    ("grid", None, "grid: 'set' -> None"),
    ("bo.rounds", 1, "bo.rounds: 2 -> 1"),
    ("bo.sampler", "gp", "bo.sampler: 'tpe' -> 'gp' (models loss=ns, loss=wgan already have BO trials)"),
    ("bo.seed", 7, "bo.seed: 0 -> 7"),
    ("bo.trials_per_round", 3, "bo.trials_per_round: 2 -> 3"),
    ("bo.n_dis", 2, "bo.n_dis: 1 -> 2"),
    ("bo.warm_start", True, "bo.warm_start: False -> True"),
    ("bo", None, "bo: 'set' -> None"),
    ("early_stopping", {"scheduler": "median"}, "early_stopping: None -> EarlyStoppingSpec(scheduler='median'"),
])
def test_a_change_to_what_finished_trials_mean_is_refused_naming_old_and_new(path, value, line):
    base = changed("trial.metrics", "fid+pr")
    with pytest.raises(ConfigError) as e:
        check_extension(parse_spec(base), parse_spec(changed(path, value, base)), RAN)
    assert line in str(e.value) and str(e.value).startswith("extend: the study file changes")


def test_every_refused_field_is_listed_once():
    new = changed("trial.steps", 80, changed("bo.sampler", "gp", changed("grid.seeds", [1])))
    refused = refused_changes(parse_spec(BASE), parse_spec(new), RAN)
    assert [r.split(":")[0] for r in refused] == ["trial.steps", "grid.seeds", "bo.sampler"]


def test_a_setting_of_one_level_of_a_bundle_factor_is_refused_for_that_model():
    base = {**BASE, "factors": {"objective": {"ns": {"loss": "ns"}, "wgan_gp": {"loss": "wgan", "penalty": "gp"}}}}
    new = changed("factors.objective.wgan_gp.penalty", "dragan", base)
    assert refused_changes(parse_spec(base), parse_spec(new), RAN) == [
        "trial.penalty: 'gp' -> 'dragan' (the setting of finished trials, e.g. of objective=wgan_gp)"]
    grown = changed("factors.objective.hinge", {"loss": "hinge"}, base)
    assert refused_changes(parse_spec(base), parse_spec(grown), RAN) == []


def test_growth_that_would_have_run_before_a_finished_seeds_phase_is_refused():
    seeded = History(bo_models=RAN.bo_models, grid_ran=True, seeds_ran=True)
    for path, value in (("bo.rounds", 3), ("grid.select", [1, 9, 12]), ("grid.seeds", [0, 1])):
        refused = refused_changes(parse_spec(BASE), parse_spec(changed(path, value)), seeded)
        assert len(refused) == 1 and refused[0].startswith(f"{path}:") and "seeds phase already" in refused[0]
    assert refused_changes(parse_spec(BASE), parse_spec(changed("seeds.count", 4)), seeded) == []
    refused = refused_changes(parse_spec(BASE), parse_spec(changed("seeds.from", ["bo"])), seeded)
    assert refused == ["seeds.from: ['grid', 'bo'] -> ['bo'] (it chose the best setting the seeds phase re-ran)"]


def test_more_grid_after_a_warm_started_bo_is_refused():
    warm = changed("bo.warm_start", True)
    refused = refused_changes(parse_spec(warm), parse_spec(changed("grid.seeds", [0, 1], warm)), RAN)
    assert refused == ["grid.seeds: [0] -> [0, 1] (bo.warm_start: the BO phase already started from the old grid)"]
    assert refused_changes(parse_spec(warm), parse_spec(changed("bo.rounds", 3, warm)), RAN) == []


def test_history_reads_rows_and_the_optuna_journal(tmp_path):
    import optuna

    from study.engine.bo import journal_storage

    rows = [{"phase": "grid", "model": "loss=ns"}, {"phase": "bo", "model": "loss=ns"}]
    assert history_of(rows, str(tmp_path)) == History(frozenset({"loss=ns"}), True, False)
    study = optuna.create_study(study_name="loss=wgan", storage=journal_storage(str(tmp_path)))
    study.ask()  # a BO trial in flight, no row yet
    assert history_of(rows, str(tmp_path)).bo_models == {"loss=ns", "loss=wgan"}
