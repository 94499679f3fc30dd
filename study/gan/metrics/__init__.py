"""Evaluation metrics: Frechet distance and the feature extractors it is computed in."""
