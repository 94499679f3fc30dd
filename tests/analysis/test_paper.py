"""The paper's FID beside ours, for trials that carry one."""
import pandas as pd

from analysis.paper import paper_comparison


def test_paper_comparison_lists_trials_with_a_published_fid():
    df = pd.DataFrame({"dataset": ["cifar10", "cifar10", "celeba_hq"], "architecture": ["sndcgan"] * 3,
                       "loss": ["ns"] * 3, "paper_fid": [28.66, 0.0, 24.67], "fid": [30.0, 50.0, 20.0]})
    out = paper_comparison(df)
    assert out["paper_fid"].tolist() == [24.67, 28.66]  # sorted by dataset; the trial without one left out
    assert out["difference"].round(2).tolist() == [-4.67, 1.34]
    assert paper_comparison(df.drop(columns="paper_fid")).empty
