"""A damaged part file (truncated, junk, deleted) costs no row when its checksummed copy or the
trials' own files survive, and is reported lost (for the driver to run again) only when nothing does."""
import shutil

import pandas as pd
import pytest

from study.engine.store import ResultsStore
from tests.study.engine.test_store import rows

KEYS = [f"{i:016x}" for i in range(6)]
DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "junk": lambda p: p.write_bytes(b"\x00junk" * 100),
    "deleted": lambda p: p.unlink(),
}


def _compacted(tmp_path):
    """Six finished trials, two evaluations each, compacted into one part (with its copy)."""
    store = ResultsStore(str(tmp_path))
    every = [r for i, k in enumerate(KEYS) for r in rows(k, [1, 2], fid0=10.0 * i)]
    for k in KEYS:
        store.write_trial(k, [r for r in every if r["trial_key"] == k])
    part = store.compact(every)
    return store, tmp_path / "results" / part.rsplit("/", 1)[-1], every


def _final_keys(store):
    final = store.table(log=lambda *a: None).to_pandas().query("is_final")
    return sorted(final["trial_key"])


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_part_is_read_from_its_copy_then_rebuilt_by_repair(tmp_path, damage):
    store, part, every = _compacted(tmp_path)
    original = part.read_bytes()
    assert sorted(p.name for p in part.parent.glob("*.parquet")) == [part.name]  # the trials' own files are gone
    DAMAGE[damage](part)
    said = []
    assert _final_keys(store) == KEYS  # status reads the copy: nothing pending
    store.table(log=said.append)
    assert any(part.name in line and "copy is read instead" in line for line in said)
    said = []
    table = store.table(repair=True, log=said.append)
    assert any("rebuilt from its checksummed copy" in line for line in said)
    assert part.read_bytes() == original and table.num_rows == len(every)
    assert sorted(pd.read_parquet(part.parent).query("is_final")["trial_key"]) == KEYS  # each final row once
    if damage != "deleted":  # the damaged bytes are kept aside, never deleted
        assert len(list((part.parent / ".quarantine").iterdir())) == 1
    assert not store.scan().damaged


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_copy_is_rewritten_from_its_part(tmp_path, damage):
    store, part, _ = _compacted(tmp_path)
    copy = part.parent / ".parts" / part.name
    original = copy.read_bytes()
    DAMAGE[damage](copy)
    said = []
    store.table(repair=True, log=said.append)
    assert copy.read_bytes() == original and any("rewritten from the part" in line for line in said)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_with_the_trials_own_files_a_part_lost_with_its_copy_loses_nothing(tmp_path, damage):
    store = ResultsStore(str(tmp_path))
    every = [r for i, k in enumerate(KEYS) for r in rows(k, [1, 2], fid0=10.0 * i)]
    for k in KEYS:
        store.write_trial(k, [r for r in every if r["trial_key"] == k])
    own = {p: p.read_bytes() for p in (tmp_path / "results").glob("*.parquet")}
    part = tmp_path / "results" / store.compact(every).rsplit("/", 1)[-1]
    for p, data in own.items():  # a compaction interrupted before the deletes
        p.write_bytes(data)
    DAMAGE[damage](part)
    DAMAGE[damage](part.parent / ".parts" / part.name)
    assert _final_keys(store) == KEYS
    store.table(repair=True, log=lambda *a: None)
    assert sorted(pd.read_parquet(part.parent).query("is_final")["trial_key"]) == KEYS


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_without_any_survivor_the_rows_are_reported_lost_and_the_rest_kept(tmp_path, damage):
    store, part, _ = _compacted(tmp_path)
    store.write_trial("f" * 16, rows("f" * 16, [1, 2]))  # a trial not compacted yet
    DAMAGE[damage](part)
    shutil.rmtree(part.parent / ".parts") if damage == "deleted" else DAMAGE[damage](part.parent / ".parts" / part.name)
    said = []
    assert _final_keys(store) == ["f" * 16]  # status: the six trials are pending
    store.table(repair=True, log=said.append)
    assert _final_keys(store) == ["f" * 16] and not store.scan().damaged
    if damage != "deleted":
        assert any("both missing or damaged; its trials run again" in line for line in said)
    said = []
    store.table(repair=True, log=said.append)
    assert not any("both missing" in line for line in said)  # said once, not at every resume


def test_a_part_written_before_copies_were_kept_gains_one_at_the_next_repair(tmp_path):
    store, part, _ = _compacted(tmp_path)
    shutil.rmtree(part.parent / ".parts")  # as a part compacted by an older version
    store.table(repair=True, log=lambda *a: None)
    part.unlink()
    assert _final_keys(store) == KEYS
