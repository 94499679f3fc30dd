"""Our FID beside a published one: trials whose rows carry ``paper_fid`` (the preset
``kurach2019_best``: Kurach et al. 2019's best models) in one table, ours minus the paper's."""
from __future__ import annotations

import pandas as pd

SETTING = ("dataset", "architecture", "loss", "penalty", "d_norm", "lr", "beta1", "beta2", "n_dis", "penalty_lambda",
           "steps")


def paper_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """One row per trial with a published FID: its setting, ``paper_fid``, our ``fid`` and
    ``difference`` (ours - paper's); empty when no trial carries one."""
    if "paper_fid" not in df or not (df["paper_fid"].fillna(0) > 0).any():
        return pd.DataFrame(columns=[*SETTING, "paper_fid", "fid", "difference"])
    rows = df[df["paper_fid"].fillna(0) > 0]
    out = rows[[c for c in SETTING if c in rows] + ["paper_fid", "fid"]].copy()
    out["difference"] = out["fid"] - out["paper_fid"]
    return out.sort_values([c for c in ("dataset", "architecture", "paper_fid") if c in out]).reset_index(drop=True)


CONCLUSIONS = ("kurach2019_conclusions.csv",)  # the presets' published conclusions (search_spaces/)


def paper_conclusions(df: pd.DataFrame) -> pd.DataFrame:
    """The published pairwise conclusions (factor, better level, worse level, claim, source) that
    this study can test: those whose factor varies in ``df`` with both levels present."""
    from importlib.resources import files

    claims = pd.concat([pd.read_csv(files("search_spaces") / name) for name in CONCLUSIONS], ignore_index=True)
    testable = [r.factor in df and {r.better, r.worse} <= set(df[r.factor].astype(str)) for r in claims.itertuples()]
    return claims[testable].reset_index(drop=True)
