"""Helpers shared by the tests that watch a running study."""
from pathlib import Path


def result_files(results: Path) -> list[Path]:
    """The trial files of a results folder, without the store's in-flight temporaries
    (``.tmp-*``, renamed into place when complete; pathlib's glob would list them)."""
    if not results.exists():
        return []
    return [f for f in results.glob("*.parquet") if not f.name.startswith(".")]
