"""The one error every bad data input raises: it names the dataset, the path and what was expected."""
from __future__ import annotations

from pathlib import Path

from study.gan.errors import ConfigError


class DataError(ConfigError):
    """A dataset's files are missing, truncated, corrupt or empty (a ConfigError: the CLI exits 2)."""

    def __init__(self, dataset: str, path: str | Path, problem: str, expected: str) -> None:
        self.dataset, self.path = dataset, str(path)
        super().__init__(f"dataset {dataset!r}: {path}: {problem}; expected {expected}")
