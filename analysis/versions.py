"""Which version of the study file ran which trials, for a study that grew (``gan-study run
--extend``). The study directory's ``versions/index.json`` lists each version with the UTC time it
took over; a trial belongs to the version current when its final row was stored (its
``timestamp``). Read here from the directory itself: the analysis never imports the study package."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def read_index(results: str) -> list[dict]:
    """The version index of a local study directory (or of its results/ folder); [] if it never grew."""
    root = Path(results)
    root = root.parent if root.name == "results" else root
    path = root / "versions" / "index.json"
    return json.loads(path.read_text()) if path.is_file() else []


def trials_per_version(df: pd.DataFrame, index: list[dict]) -> pd.DataFrame:
    """Finished trials (``df``: one row per trial, with phase and timestamp) per version and phase."""
    starts = pd.to_datetime([v["recorded_at"] for v in index[1:]], utc=True)
    stamps = pd.to_datetime(df["timestamp"], utc=True)
    numbers = [v["number"] for v in index]
    owner = [numbers[i] for i in starts.searchsorted(stamps, side="right")]
    counts = pd.crosstab(pd.Series(owner, name="version", index=df.index), df["phase"].astype(str))
    table = pd.DataFrame({"file": [v["file"] for v in index]}, index=pd.Index(numbers, name="version"))
    return table.join(counts).fillna(0).astype({c: int for c in counts.columns})
