"""The preset study files parse and validate without the data present, and expand to the trial
counts their papers state (counts worked out here from the papers' tables, not from the spec)."""
import csv
from pathlib import Path

import pytest

from study.engine.spec import load_spec

ROOT = Path(__file__).resolve().parents[2] / "search_spaces"
GRID, GRID_NO_PENALTY, BO = 24, 12, 12 * 10  # Table 1 (lambda moot without a penalty); 12 rounds of 10


def counts(path):
    spec = load_spec(path)
    bo = len(spec.models()) * spec.bo.rounds * spec.bo.trials_per_round if spec.bo else 0
    return spec, len(spec.grid_trials()), bo


@pytest.fixture(autouse=True)
def no_data(monkeypatch):
    monkeypatch.delenv("GAN_STUDY_DATA", raising=False)  # parsing never looks for the data


@pytest.mark.parametrize("dataset,res", [("cifar10", 32), ("celeba_hq", 128), ("lsun_bedroom", 128)])
def test_kurach_studies_per_dataset(dataset, res):
    spec, grid, bo = counts(ROOT / f"kurach2019_loss_{dataset}.yaml")  # 3 losses x {none, SN} x {none, GP}
    assert len(spec.models()) == 12 and grid == 3 * 2 * (GRID_NO_PENALTY + GRID) and bo == 12 * BO
    assert spec.bo.rounds == 12 and spec.bo.trials_per_round == 10
    spec, grid, bo = counts(ROOT / f"kurach2019_penalty_norm_{dataset}.yaml")  # 4 penalties x 4 normalizers
    assert len(spec.models()) == 16 and grid == 4 * (GRID_NO_PENALTY + 3 * GRID) and bo == 16 * BO
    spec, grid, bo = counts(ROOT / f"kurach2019_architecture_{dataset}.yaml")  # 2 archs x {none, SN} x {none, GP}
    assert len(spec.models()) == 8 and grid == 2 * 2 * (GRID_NO_PENALTY + GRID) and bo == 8 * BO
    for model in spec.models():
        cfg = spec.config(model)
        assert (cfg.dataset, cfg.resolution, cfg.channels, cfg.feature_extractor) == (dataset, res, 3, "inception")
        assert cfg.batch_size == 64 and cfg.z_dim == 128 and cfg.step_unit == "discriminator"
        assert cfg.steps == 200_000  # the ResNets' count in the best-model table


def test_kurach_best_models_are_the_csvs_rows():
    spec, grid, bo = counts(ROOT / "kurach2019_best.yaml")
    with open(ROOT / "kurach2019_best_models.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 36
    distinct = {tuple(sorted({**r, "paper_fid": "", "penalty_lambda": r["penalty_lambda"] if r["penalty"] != "none"
                              else "0"}.items())) for r in rows}
    assert grid == len(distinct) == 30 and bo == 0
    names = {"cifar10": "cifar10", "celebahq128": "celeba_hq", "lsun-bedroom": "lsun_bedroom"}
    losses = {"ns": "ns", "ls": "ls_sigmoid"}  # the paper's LS is compare_gan's, on sigmoid(D)
    got = {(c.dataset, c.architecture, c.loss, c.penalty, c.d_norm, c.lr, c.beta1, c.beta2, c.n_dis, c.seed, c.steps)
           for _, _, c in spec.grid_trials()}
    want = {(names[r["dataset"]], r["architecture"], losses[r["loss"]], r["penalty"], r["d_normalization"],
             float(r["lr"]), float(r["beta1"]), float(r["beta2"]), int(r["n_dis"]), int(r["seed"]),
             int(r["training_steps"]))
            for r in rows}
    assert got == want
    first = next(c for _, _, c in spec.grid_trials() if c.dataset == "celeba_hq" and c.architecture == "resnet19"
                 and c.lr == 3.38e-05)
    assert first.paper_fid == 34.29 and first.resolution == 128 and first.steps == 200_000
    # one dataset's rows
    import yaml

    from study.engine.spec import parse_spec

    data = yaml.safe_load((ROOT / "kurach2019_best.yaml").read_text())
    data["grid"]["where"] = {"dataset": "cifar10"}
    assert len(parse_spec(data).grid_trials()) == len({d for d in distinct if ("dataset", "cifar10") in d})


@pytest.mark.parametrize("dataset,res", [("cifar10", 32), ("stl10", 48)])
def test_sngan_adam_settings_a_to_f(dataset, res):
    spec, grid, bo = counts(ROOT / f"sngan_adam_{dataset}.yaml")
    assert grid == 4 * 6 and bo == 0
    settings = [(c.lr, c.beta1, c.beta2, c.n_dis) for m, _, c in spec.grid_trials() if m.name == "d_norm=sn"]
    assert settings == [(1e-4, 0.5, 0.9, 5), (1e-4, 0.5, 0.999, 1), (2e-4, 0.5, 0.999, 1), (1e-3, 0.5, 0.9, 5),
                        (1e-3, 0.5, 0.999, 5), (1e-3, 0.9, 0.999, 5)]
    cfg = spec.config(spec.models()[0])
    assert (cfg.dataset, cfg.resolution, cfg.step_unit, cfg.steps) == (dataset, res, "generator", 100_000)
    if dataset == "stl10":
        assert cfg.train_split == "unlabeled"


def test_gpu_smoke_study():
    spec, grid, bo = counts(ROOT / "gpu_smoke_cifar10.yaml")
    assert grid + bo == 4 * 2 + 4 * 2 * 2 and spec.resources.gpu == 0.25
    assert spec.config(spec.models()[0]).feature_extractor == "inception"


def test_normalizer_check_study_parses():
    spec, grid, bo = counts(ROOT / "normalizer_check_digits.yaml")
    # 4 D normalizers x {none, GP}; 4 grid rows (2 distinct without a penalty) x 3 seeds
    assert len(spec.models()) == 8 and grid == (4 * 2 + 4 * 4) * 3 and bo == 0


def test_every_preset_file_is_covered():
    # tricks_*.yaml: tests/study/engine/test_spec_bundles.py
    covered = {"demo.yaml", "kurach2019_best.yaml", "gpu_smoke_cifar10.yaml", "sngan_adam_cifar10.yaml",
               "sngan_adam_stl10.yaml", "normalizer_check_digits.yaml", "tricks_digits.yaml",
               "tricks_labels_digits.yaml"} | {f"kurach2019_{s}_{d}.yaml"
                                               for s in ("loss", "penalty_norm", "architecture")
                                               for d in ("cifar10", "celeba_hq", "lsun_bedroom")}
    assert {p.name for p in ROOT.glob("*.yaml")} == covered
