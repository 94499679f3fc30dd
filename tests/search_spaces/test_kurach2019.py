"""The presets against Kurach et al. 2019, Tables 1 and 2."""
import itertools

from search_spaces.kurach2019 import LITERATURE_GRID, bo_space
from study.gan.penalties import PENALTIES


def test_table1_is_the_full_cartesian_product():
    assert len(LITERATURE_GRID) == 3 * 2 * 4 == 24
    expected = {(lr, lam, b1, b2, nd) for lr, lam, (b1, b2, nd) in itertools.product(
        (0.0002, 0.0001, 0.001), (1.0, 10.0), ((0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5)))}
    got = {(g["lr"], g["penalty_lambda"], g["beta1"], g["beta2"], g["n_dis"]) for g in LITERATURE_GRID}
    assert got == expected


def test_table2_ranges():
    s = bo_space(PENALTIES.get("gp").lambda_range)
    assert (s["lr"].low, s["lr"].high, s["lr"].log) == (1e-5, 1e-2, True)
    assert (s["penalty_lambda"].low, s["penalty_lambda"].high, s["penalty_lambda"].log) == (1e-1, 1e2, True)
    assert (bo_space(PENALTIES.get("l2").lambda_range)["penalty_lambda"].low,
            bo_space(PENALTIES.get("l2").lambda_range)["penalty_lambda"].high) == (1e-4, 1e1)
    assert "penalty_lambda" not in bo_space(PENALTIES.get("none").lambda_range)
    assert s["beta1"].low == 0.0 and not s["beta1"].log and 0.999 < s["beta2"].high < 1.0
