"""Helpers shared by the tests that watch a running study."""
from pathlib import Path


def result_files(results: Path) -> list[Path]:
    """The trial files of a results folder, without the store's in-flight temporaries
    (``.tmp-*``, renamed into place when complete; pathlib's glob would list them)."""
    if not results.exists():
        return []
    return [f for f in results.glob("*.parquet") if not f.name.startswith(".")]


def read_rows(files: list[Path]):
    """The rows of a running study's trial files, skipping a file the store is replacing this
    instant (a reader by path can get the old footer and the new pages) or has just compacted."""
    import pandas as pd

    frames = []
    for f in files:
        try:
            frames.append(pd.read_parquet(f))
        except (OSError, ValueError):
            pass
    return pd.concat(frames) if frames else pd.DataFrame(columns=["phase", "is_final", "step", "node_id"])


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether ``pid`` is ``ancestor`` or one of its descendants (Linux /proc), so that a test
    signals only processes it started, never other people's work on the machine."""
    seen = set()
    while pid > 1 and pid not in seen:
        if pid == ancestor:
            return True
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the command name is the parent pid
    return False
