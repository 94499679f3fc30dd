"""Per-seed top-k% tables and the agreement of their rankings, against hand-worked values."""
import math

import pandas as pd
import pytest

from analysis.seeds import rank_agreement, seed_table


def frame(seed1_a: float) -> pd.DataFrame:
    rows = [("a", 0, 10.0), ("a", 0, 20.0), ("b", 0, 5.0), ("b", 0, 30.0), ("c", 0, 40.0), ("c", 0, math.nan),
            ("a", 1, seed1_a), ("b", 1, 8.0), ("b", 1, 9.0), ("c", 1, 50.0)]
    return pd.DataFrame(rows, columns=["d_norm", "seed", "fid"])


def test_each_seeds_top_trial_and_their_mean():
    table = seed_table(frame(12.0), ["d_norm"])  # groups of <= 20 trials: the top 5% is the best one
    assert list(table.index) == ["b", "a", "c"]
    assert table.loc["a"].tolist() == [10.0, 12.0, 11.0]
    assert table.loc["b"].tolist() == [5.0, 8.0, 6.5]
    assert table.loc["c"].tolist() == [40.0, 50.0, 45.0]  # the NaN trial counts but has no FID


def test_rank_agreement_is_kendalls_tau():
    assert rank_agreement(seed_table(frame(12.0), ["d_norm"]))["kendall_tau"].tolist() == [pytest.approx(1.0)]
    # seed 1 puts a before b: one discordant pair of three -> tau = (2 - 1) / 3
    flipped = rank_agreement(seed_table(frame(7.0), ["d_norm"]))
    assert flipped["kendall_tau"].tolist() == [pytest.approx(1 / 3)]
    assert flipped["seeds"].tolist() == ["seed 0 vs seed 1"] and flipped["models"].tolist() == [3]
