"""Real statistics exported as TTUR / pytorch-fid .npz files and used in place of the split's."""
import math

import numpy as np
import pytest

from study.cli import main
from study.gan.config import ConfigError, TrialConfig
from study.gan.metrics.stats_file import load_stats, save_stats, stats_sha256
from study.gan.trial import run_trial

TINY = dict(width=0.125, z_dim=16, batch_size=32, steps=20, eval_every=20, resolution=8, eval_samples=200)


def test_export_then_import_gives_the_same_fid(tmp_path, capsys):
    out = tmp_path / "digits_test.npz"
    assert main(["stats", "export", str(out), "--dataset", "digits", "--resolution", "8", "--extractor", "digits",
                 "--device", "cpu"]) == 0
    with np.load(out) as z:
        assert sorted(z.files) == ["mu", "sigma"] and z["mu"].shape == (64,) and z["sigma"].shape == (64, 64)
    rows_split, rows_file = [], []
    run_trial(TrialConfig.from_dict(TINY), rows_split.append)
    run_trial(TrialConfig.from_dict({**TINY, "fid_stats": str(out)}), rows_file.append)
    a, b = rows_split[-1], rows_file[-1]
    assert math.isclose(a["fid"], b["fid"], rel_tol=1e-9)  # the same reference, from the file
    assert a["fid_real_stats_sha256"] == b["fid_real_stats_sha256"] == stats_sha256(*load_stats(out))
    assert a["fid_real_samples"] == 360 and b["fid_real_samples"] == 0
    assert main(["stats", "show", str(out)]) == 0 and a["fid_real_stats_sha256"] in capsys.readouterr().out


def test_a_pytorch_fid_style_file_loads_and_bad_ones_are_refused(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3)
    np.savez(tmp_path / "ref.npz", mu=mu, sigma=sigma)  # as pytorch-fid's --save-stats writes
    got_mu, got_sigma = load_stats(tmp_path / "ref.npz", dim=3)
    assert np.array_equal(got_mu, mu) and np.array_equal(got_sigma, sigma)
    with pytest.raises(ConfigError, match=r"expected mu \(2048,\)"):
        load_stats(tmp_path / "ref.npz", dim=2048)
    np.savez(tmp_path / "bad.npz", m=mu)
    with pytest.raises(ConfigError, match=r"fid_stats: .*bad.npz: unreadable"):
        load_stats(tmp_path / "bad.npz")
    saved = save_stats(tmp_path / "sub" / "x.npz", mu, sigma)
    assert saved.is_file() and list(saved.parent.iterdir()) == [saved]
