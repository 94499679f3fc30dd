"""Factors of named settings (issue 14) come back from the model names as columns."""
import pandas as pd

from analysis.load import model_factors, with_model_factors


def test_named_factors_become_categorical_columns():
    df = pd.DataFrame({"model": ["objective=ns,trick=none", "objective=wgan_gp,trick=fm", "objective=ns,trick=fm"],
                       "loss": ["ns", "wgan", "ns"], "fid": [3.0, 2.0, 1.0]})
    assert model_factors(df) == ["objective", "trick"]
    out = with_model_factors(df)
    assert out["trick"].tolist() == ["none", "fm", "fm"] and str(out["trick"].dtype) == "category"
    assert out["objective"].tolist() == ["ns", "wgan_gp", "ns"]


def test_plain_factors_are_left_alone():
    df = pd.DataFrame({"model": ["loss=ns", "loss=wgan"], "loss": ["ns", "wgan"]})
    assert with_model_factors(df.copy())["loss"].tolist() == ["ns", "wgan"] and list(df.columns) == ["model", "loss"]
