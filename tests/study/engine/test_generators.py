"""`gan-study export` and `gan-study sample` on a study directory made of real trials (no Ray):
the exported file is the model's best kept generator, labelled; its samples are its images."""
import numpy as np
import pytest
import torch
from PIL import Image

from study.cli import main
from study.engine.store import ResultsStore
from study.gan.artifacts import ArtifactDir
from study.gan.config import TrialConfig
from study.gan.export import load_generator
from study.gan.samples import grid_latents
from study.gan.trial import run_trial

TINY = dict(width=0.125, z_dim=16, batch_size=32, steps=20, eval_every=20, resolution=8, eval_samples=200,
            sample_grid=4)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    store = ResultsStore(str(root))
    for key, model, seed in (("k1", "loss=ns", 1), ("k2", "loss=ns", 2), ("k3", "loss=hinge", 3)):
        cfg = TrialConfig.from_dict({**TINY, "seed": seed, "loss": model.split("=")[1]})
        rows = []
        run_trial(cfg, rows.append, artifacts=ArtifactDir(str(root), key))
        ident = {"study": "s", "phase": "grid", "model": model, "trial_key": key, **cfg.to_dict()}
        store.write_trial(key, [{**ident, **{k: r[k] for k in ("step", "fid", "best_fid", "status", "is_final")}}
                                for r in rows])
    return root


def _best(study_dir, model):
    rows = ResultsStore(str(study_dir), create=False).table().to_pylist()
    return min((r for r in rows if r["model"] == model and r["is_final"]), key=lambda r: r["best_fid"])


def test_export_writes_the_models_best_generator_with_its_provenance(study_dir, tmp_path, capsys):
    out = tmp_path / "out" / "G.pt"
    assert main(["export", str(study_dir), "--model", "loss=ns", "-o", str(out)]) == 0
    best = _best(study_dir, "loss=ns")
    gen = load_generator(str(out), device="cpu")
    assert gen.info["trial_key"] == best["trial_key"] and gen.info["rank"] == 1 and gen.info["model"] == "loss=ns"
    assert gen.info["best_fid"] == best["best_fid"] and gen.info["study"] == "s"
    assert gen.config.seed == best["seed"] and "exported loss=ns rank 1" in capsys.readouterr().out
    kept = load_generator(str(study_dir / "generators" / best["trial_key"] / "best.pt"), device="cpu")
    assert kept.weights_sha256 == gen.weights_sha256
    assert main(["export", str(study_dir), "--model", "loss=ns", "--rank", "2", "-o", str(tmp_path / "G2.pt")]) == 0
    assert load_generator(str(tmp_path / "G2.pt"), device="cpu").info["trial_key"] != best["trial_key"]


def test_export_names_the_allowed_models_and_ranks(study_dir, tmp_path, capsys):
    assert main(["export", str(study_dir), "--model", "loss=wgan", "-o", str(tmp_path / "G.pt")]) == 2
    assert "allowed: loss=hinge, loss=ns" in capsys.readouterr().err
    assert main(["export", str(study_dir), "--model", "loss=hinge", "--rank", "2", "-o", str(tmp_path / "G.pt")]) == 2
    assert "--rank: invalid value 2; allowed: 1 to 1" in capsys.readouterr().err


def test_sample_writes_the_generators_images_as_a_grid_and_an_archive(study_dir, tmp_path):
    g_file = tmp_path / "G.pt"
    assert main(["export", str(study_dir), "--model", "loss=hinge", "-o", str(g_file)]) == 0
    assert main(["sample", str(g_file), "-n", "9", "--seed", "4", "-o", str(tmp_path / "grid.png"),
                 "--device", "cpu"]) == 0
    assert main(["sample", str(g_file), "-n", "9", "--seed", "4", "--npz", "-o", str(tmp_path / "s.npz"),
                 "--device", "cpu"]) == 0
    gen = load_generator(str(g_file), device="cpu")
    z = grid_latents(9, 16, "uniform", 4)  # z_dist defaults to uniform (compare_gan)
    with torch.no_grad():
        want = ((gen.module(z) + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()  # tanh head
    archive = np.load(tmp_path / "s.npz")
    assert np.array_equal(archive["latents"], z.numpy())
    assert np.array_equal(archive["images"], want.transpose(0, 2, 3, 1))
    assert str(archive["weights_sha256"]) == gen.weights_sha256
    with Image.open(tmp_path / "grid.png") as im:
        grid = np.asarray(im)
    assert grid.shape == (3 * 10 + 2, 3 * 10 + 2)  # 3 x 3 cells of 8 px, 2 px apart
    for i in range(9):
        top, left = 2 + (i // 3) * 10, 2 + (i % 3) * 10
        assert np.array_equal(grid[top:top + 8, left:left + 8], want[i, 0])


def test_sample_refuses_a_damaged_file(tmp_path, capsys):
    bad = tmp_path / "G.pt"
    bad.write_bytes(b"\x00" * 64)
    assert main(["sample", str(bad), "-o", str(tmp_path / "g.png")]) == 2
    assert "not a readable generator file" in capsys.readouterr().err


def test_an_exported_generator_samples_the_same_images_in_a_new_process(study_dir, tmp_path):
    import subprocess
    import sys

    g_file = tmp_path / "G.pt"
    assert main(["export", str(study_dir), "--model", "loss=ns", "-o", str(g_file)]) == 0
    subprocess.run([sys.executable, "-m", "study.cli", "sample", str(g_file), "-n", "5", "--seed", "2", "--npz",
                    "-o", str(tmp_path / "there.npz"), "--device", "cpu"], check=True, timeout=120)
    kept = load_generator(str(study_dir / "generators" / load_generator(str(g_file), "cpu").info["trial_key"]
                              / "best.pt"), device="cpu")
    here = (kept.sample(5, seed=2) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(np.load(tmp_path / "there.npz")["images"], here)
