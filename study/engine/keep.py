"""Which trials' generators a study keeps: per model, the ``keep_generators`` best by FID.

A running trial writes its best evaluation's generator to ``<study>/generators/<trial_key>/
best.pt`` (study/gan/trial.py through study/gan/artifacts.py). Once a trial has finished, the
driver knows whether it ranks among its model's top k (by ``best_fid``, the FID of the weights
that file holds; ties by trial key); the files of trials that fall out are deleted, so a study
of thousands of trials keeps k generator files per model. Failed trials and trials with no
finite FID never rank, nor do trials early stopping ended (they did not train to the end).
Files of trials still running are left alone. Any URI pyarrow's
filesystems reach works (local, NFS, s3://, gs://).
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Iterable, Mapping

import pyarrow.fs as pafs

from study.engine.store import filesystem

GENERATORS = "generators"  # the same folder name as study.gan.artifacts.GENERATORS (no torch import here)
BEST_GENERATOR = "best.pt"


def score(row: Mapping[str, Any]) -> float | None:
    """What a finished trial ranks by, or None when it cannot rank."""
    fid = row.get("best_fid")
    if row.get("status") in ("failed", "stopped") or fid is None or not math.isfinite(fid):
        return None
    return float(fid)


def ranking(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[float, str]]]:
    """model -> [(best FID, trial key)] of its finished trials, best first."""
    out: dict[str, list[tuple[float, str]]] = {}
    for r in rows:
        if r.get("is_final") and (s := score(r)) is not None:
            out.setdefault(r["model"], []).append((s, r["trial_key"]))
    return {m: sorted(v) for m, v in out.items()}


class GeneratorKeeper:
    def __init__(self, study_dir: str, k: int, rows: Iterable[Mapping[str, Any]] = (), log=print) -> None:
        self.fs, root = filesystem(str(study_dir))
        self.root, self.k, self.log = f"{root}/{GENERATORS}", k, log
        rows = list(rows)
        self.finished = {r["trial_key"] for r in rows if r.get("is_final")}
        self.kept = {m: v[:k] for m, v in ranking(rows).items()}

    def path(self, trial_key: str) -> str:
        return f"{self.root}/{trial_key}/{BEST_GENERATOR}"

    def _delete(self, trial_key: str) -> None:
        try:
            self.fs.delete_dir(f"{self.root}/{trial_key}")
        except FileNotFoundError:
            pass
        except OSError as exc:  # a leftover file costs space, not results
            self.log(f"  could not delete the generator of trial {trial_key}: {exc}")

    def offer(self, row: Mapping[str, Any]) -> None:
        """A trial finished with this final row: keep its generator if it ranks, drop who fell out."""
        key = row["trial_key"]
        self.finished.add(key)
        s = score(row)
        if s is None:
            self._delete(key)
            return
        kept = [e for e in self.kept.get(row["model"], []) if e[1] != key]
        bisect.insort(kept, (s, key))
        for _, loser in kept[self.k:]:
            self._delete(loser)
        self.kept[row["model"]] = kept[:self.k]

    def kept_keys(self) -> set[str]:
        return {key for entries in self.kept.values() for _, key in entries}

    def prune(self) -> int:
        """Delete the generators of finished trials that do not rank (left by a driver that died
        between a trial's end and the deletion); running trials' files stay. Returns how many."""
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.root))
        except FileNotFoundError:
            return 0
        keep = self.kept_keys()
        dropped = [i.base_name for i in infos if i.type == pafs.FileType.Directory
                   and i.base_name in self.finished and i.base_name not in keep]
        for key in dropped:
            self._delete(key)
        return len(dropped)
