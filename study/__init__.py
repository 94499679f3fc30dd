"""gan-study: large-scale GAN hyperparameter studies on Ray Tune and Optuna."""

__version__ = "0.1.0"
