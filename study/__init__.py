"""gan-study: large-scale GAN hyperparameter studies on Ray Tune and Optuna.

``study.load_generator(path)`` rebuilds an exported generator (study/gan/export.py); it is
imported on first use, so that importing the package (the driver does) does not import torch.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_generator"]


def __getattr__(name: str):
    if name == "load_generator":
        from study.gan.export import load_generator

        return load_generator
    raise AttributeError(f"module 'study' has no attribute {name!r}")
