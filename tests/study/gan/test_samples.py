"""Sample grids: the layout worked by hand, and a trial's PNGs equal to its generator's images
of the study's fixed latents (read back with Pillow)."""
import numpy as np
import pytest
import torch
from PIL import Image

from study.gan.artifacts import ArtifactDir
from study.gan.config import TrialConfig
from study.gan.export import load_generator
from study.gan.samples import PADDING, grid_latents, png_bytes, read_grid, tile
from study.gan.trial import run_trial

TINY = dict(width=0.125, z_dim=16, batch_size=32, steps=40, eval_every=20, resolution=8, eval_samples=200,
            sample_grid=10, sample_seed=5)


def test_tile_places_cell_i_at_row_i_div_cols_and_column_i_mod_cols():
    images = np.stack([np.full((3, 4, 1), 10 * i, np.uint8) for i in range(5)])  # 5 cells of 3 x 4: 3 columns, 2 rows
    grid = tile(images)
    assert PADDING == 2
    assert grid.shape == (2 * (3 + 2) + 2, 3 * (4 + 2) + 2, 1) == (12, 20, 1)
    assert (grid[2:5, 2:6] == 0).all() and (grid[2:5, 8:12] == 10).all() and (grid[2:5, 14:18] == 20).all()
    assert (grid[7:10, 2:6] == 30).all() and (grid[7:10, 8:12] == 40).all()
    assert (grid[7:10, 14:18] == 255).all() and (grid[0:2] == 255).all() and (grid[:, 6:8] == 255).all()


def test_png_is_lossless_gray_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    for c, mode in ((1, "L"), (3, "RGB")):
        grid = rng.integers(0, 256, (7, 9, c), dtype=np.uint8)
        path = tmp_path / f"g{c}.png"
        path.write_bytes(png_bytes(grid))
        with Image.open(path) as im:
            assert im.mode == mode and im.size == (9, 7)
            assert (np.asarray(im).reshape(7, 9, c) == grid).all()


def test_grid_latents_come_from_the_study_seed_alone():
    a = grid_latents(6, 4, "normal", 5)
    assert torch.equal(a, torch.randn(6, 4, generator=torch.Generator().manual_seed(5)))
    u = grid_latents(6, 4, "uniform", 5)
    assert torch.equal(u, torch.rand(6, 4, generator=torch.Generator().manual_seed(5)) * 2 - 1)


def _expected_cells(path, gen, z):
    """The generator's images of z as the grid must hold them: (G(z) - low) / (high - low) in
    [0, 1], times 255, rounded."""
    with torch.no_grad():
        x = gen.module.eval()(z)
    want = ((x - gen.low) / (gen.high - gen.low)).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    got = read_grid(path)
    n, _, h, w = want.shape
    cols = 4  # ceil(sqrt(10))
    assert got.shape == (3 * (h + 2) + 2, cols * (w + 2) + 2)  # 10 cells: 3 rows of 4
    for i in range(n):
        top, left = 2 + (i // cols) * (h + 2), 2 + (i % cols) * (w + 2)
        assert (got[top:top + h, left:left + w] == want[i, 0]).all(), f"cell {i}"


@pytest.mark.parametrize("extra", [{}, {"g_ema": 0.9, "g_norm": "sn"}])
def test_trial_grids_equal_its_best_generator_on_the_fixed_latents(tmp_path, extra):
    rows = []
    run_trial(TrialConfig.from_dict({**TINY, **extra, "seed": 1}), rows.append,
              artifacts=ArtifactDir(str(tmp_path), "t1"))
    best = min(rows, key=lambda r: r["fid"])
    samples = tmp_path / "samples" / "t1"
    assert sorted(p.name for p in samples.iterdir()) == ["best.png", "final.png"]
    gen = load_generator(str(tmp_path / "generators" / "t1" / "best.pt"), device="cpu")
    assert gen.info["step"] == best["step"] and gen.info["fid"] == best["fid"]
    z = grid_latents(10, 16, "uniform", 5)  # z_dist defaults to uniform, as compare_gan
    _expected_cells(samples / "best.png", gen, z)
    if best["step"] == rows[-1]["step"]:
        assert (samples / "final.png").read_bytes() == (samples / "best.png").read_bytes()


def test_every_trial_of_a_study_draws_its_grid_from_the_same_latents(tmp_path):
    for seed in (1, 2):
        run_trial(TrialConfig.from_dict({**TINY, "seed": seed, "steps": 20}), lambda row: None,
                  artifacts=ArtifactDir(str(tmp_path), f"s{seed}"))
    z = grid_latents(10, 16, "uniform", 5)  # the study's latents (z_dist default), whatever the trial's seed
    for seed in (1, 2):
        gen = load_generator(str(tmp_path / "generators" / f"s{seed}" / "best.pt"), device="cpu")
        _expected_cells(tmp_path / "samples" / f"s{seed}" / "final.png", gen, z)


def test_sample_every_keeps_every_evaluation_and_zero_keeps_none(tmp_path):
    run_trial(TrialConfig.from_dict({**TINY, "sample_every": True}), lambda row: None,
              artifacts=ArtifactDir(str(tmp_path / "a"), "k"))
    assert sorted(p.name for p in (tmp_path / "a" / "samples" / "k").iterdir()) == [
        "best.png", "final.png", "step-000000020.png", "step-000000040.png"]
    run_trial(TrialConfig.from_dict({**TINY, "sample_grid": 0}), lambda row: None,
              artifacts=ArtifactDir(str(tmp_path / "b"), "k"))
    assert not (tmp_path / "b" / "samples").exists() and (tmp_path / "b" / "generators" / "k" / "best.pt").is_file()


def test_a_conditional_trials_grid_shows_class_i_mod_classes_in_cell_i(tmp_path):
    from study.gan.samples import grid_labels

    run_trial(TrialConfig.from_dict({**TINY, "conditional": True, "steps": 20}), lambda row: None,
              artifacts=ArtifactDir(str(tmp_path), "c"))
    gen = load_generator(str(tmp_path / "generators" / "c" / "best.pt"), device="cpu")
    z = grid_latents(10, 16, "uniform", 5)
    assert grid_labels(10, 10).tolist() == list(range(10))
    with torch.no_grad():
        x = gen.module.eval()(z, grid_labels(10, 10))
    want = ((x - gen.low) / (gen.high - gen.low)).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    got = read_grid(tmp_path / "samples" / "c" / "best.png")
    h, w = want.shape[-2:]
    for i in range(10):
        top, left = 2 + (i // 4) * (h + 2), 2 + (i % 4) * (w + 2)
        assert (got[top:top + h, left:left + w] == want[i, 0]).all(), f"cell {i}"
    assert gen.sample(4, seed=0).shape == (4, 1, 8, 8)  # export and sampling work for a conditional G


@pytest.mark.parametrize(("n", "px", "scale"), [(64, 16, 4), (10, 8, 13), (64, 32, 2), (64, 64, 1)])
def test_a_small_grid_is_scaled_up_by_a_whole_factor_nearest_and_the_factor_recorded(tmp_path, n, px, scale):
    # 64 cells of 16 px: 8 x 18 + 2 = 146 px, ceil(512 / 146) = 4; 10 of 8 px: 4 x 10 + 2 = 42 px -> 13;
    # 64 of 32 px: 274 px -> 2; 64 of 64 px: 530 px, readable already -> 1
    from study.gan.samples import grid_png

    gen = torch.nn.Sequential(torch.nn.Linear(4, px * px), torch.nn.Unflatten(1, (1, px, px)), torch.nn.Tanh())
    z = grid_latents(n, 4, "normal", 0)
    path = tmp_path / "grid.png"
    path.write_bytes(grid_png(gen, z, -1.0, 1.0))
    small = tile(((gen(z).detach() + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    with Image.open(path) as im:
        assert im.text["scale"] == str(scale) and im.size == (small.shape[1] * scale, small.shape[0] * scale)
        big = np.asarray(im)
    assert np.array_equal(big, np.kron(small[..., 0], np.ones((scale, scale), np.uint8)))  # blocks, no new values
    assert np.array_equal(read_grid(path), small[..., 0])
