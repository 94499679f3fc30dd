"""The evaluator's options: what a trial config asks an evaluation to compare with and compute."""
import pytest

from study.gan.config import TrialConfig
from study.gan.metrics.evaluator import EvaluatorOptions


def test_options_read_the_trials_evaluation_settings(tmp_path):
    cfg = TrialConfig.from_dict(dict(eval_split="train", eval_samples=7, eval_real_samples=11, metrics="fid+kid",
                                     fid_resize="torch_bilinear", recon_samples=5, recon_steps=3, fid_stats="x.npz"))
    assert EvaluatorOptions.from_config(cfg, cache=tmp_path) == EvaluatorOptions(
        split="train", extractor=cfg.feature_extractor, resolution=cfg.resolution, channels=cfg.channels, samples=7,
        resize="torch_bilinear", metrics=cfg.metric_set(), recon_samples=5, recon_steps=3, real_samples=11,
        stats_file="x.npz", conditional=False, cache=tmp_path)


def test_options_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        EvaluatorOptions("test", "digits", 16, 1)  # type: ignore[misc]
    options = EvaluatorOptions(split="test", extractor="digits", resolution=16, channels=1)
    with pytest.raises(AttributeError):
        options.samples = 3  # type: ignore[misc]
