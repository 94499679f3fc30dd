"""A study on a fake CIFAR-10 (the python version's exact format) through `gan-study run` on
real Ray: the driver prepares the data once, trials memory-map it, rows record the data."""
import hashlib

import pandas as pd
import pytest
import yaml

from study.cli import main
from tests.study.gan.data import fakes

pytestmark = pytest.mark.ray


def test_gan_study_run_on_fake_cifar10_records_the_data(ray_local, tmp_path, capsys):
    fake = fakes.cifar10_dir(tmp_path / "data")
    study = {"name": "cifar_tiny",
             "trial": {"dataset": "cifar10", "channels": 3, "resolution": 32, "data_dir": str(fake.data_dir),
                       "width": 0.125, "z_dim": 16, "batch_size": 8, "steps": 4, "eval_every": 2, "eval_samples": 8},
             "grid": {"preset": "kurach2019", "select": [1, 9], "seeds": [0]}, "resources": {"cpu": 1}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "preparing cifar10 at 32 px" in printed and "2 ok" in printed
    manifest = tmp_path / "data" / "prepared" / "cifar10-32px-center_crop_resize" / "manifest.json"
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    rows = pd.read_parquet(tmp_path / "out" / "results")
    assert len(rows) == 2 * 2 and rows["trial_key"].nunique() == 2  # two grid trials, evaluated at steps 2 and 4
    assert (rows["dataset"] == "cifar10").all() and (rows["status"] == "ok").all()
    assert (rows["data_manifest_sha256"] == sha).all()
    assert (rows["fid_split"] == "test").all() and (rows["fid_real_samples"] == len(fake.test)).all()
    assert (rows["fid_samples"] == 8).all() and (rows["crop"] == "center_crop_resize").all()
    assert (rows["data_dir"] == str(fake.data_dir)).all()
