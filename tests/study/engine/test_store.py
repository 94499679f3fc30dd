"""The Parquet store: atomic per-trial files, replace-not-duplicate, readable by other readers."""
import datetime as dt
import math

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from study.engine.schema import SCHEMA
from study.engine.store import ResultsStore
from study.gan.config import TrialConfig


def rows(key, steps, fid0=100.0, status="ok"):
    cfg = TrialConfig().to_dict()
    return [{"study": "s", "phase": "grid", "model": "loss=ns", "trial_key": key, **cfg, "step": s,
             "fid": fid0 - s, "is_final": s == steps[-1], "status": status,
             "timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)} for s in steps]


def test_round_trip_and_readers_agree(tmp_path):
    store = ResultsStore(str(tmp_path))
    store.write_trial("a" * 16, rows("a" * 16, [10, 20]))
    store.write_trial("b" * 16, rows("b" * 16, [10, 20, 30], fid0=50.0))
    table = store.table()
    assert table.schema == SCHEMA and table.num_rows == 5
    # pandas over the directory
    df = pd.read_parquet(tmp_path / "results")
    assert sorted(df["fid"]) == [20.0, 30.0, 40.0, 80.0, 90.0]
    # DuckDB, an independent Parquet reader
    con = duckdb.connect()
    n, best = con.execute(f"select count(*), min(fid) from read_parquet('{tmp_path}/results/*.parquet')").fetchone()
    assert (n, best) == (5, 20.0)
    assert {r["trial_key"] for r in table.to_pylist() if r["is_final"]} == {"a" * 16, "b" * 16}


def test_rewriting_a_key_replaces_its_rows(tmp_path):
    store = ResultsStore(str(tmp_path))
    key = "c" * 16
    store.write_trial(key, rows(key, [10]))
    store.write_trial(key, rows(key, [10, 20, 30]))
    assert store.table().num_rows == 3
    assert store.read_trial(key)[-1]["step"] == 30


def test_a_crash_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    store = ResultsStore(str(tmp_path))
    key = "d" * 16
    store.write_trial(key, rows(key, [10, 20]))

    def crash(table, out, **kw):
        out.write(b"PAR1 half a file")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write_trial(key, rows(key, [10, 20, 30]))
    monkeypatch.undo()
    assert [r["step"] for r in store.read_trial(key)] == [10, 20]
    assert store.table().num_rows == 2  # the temporary file is not part of the dataset
    assert len(pd.read_parquet(tmp_path / "results")) == 2


def test_bad_rows_are_refused_and_nothing_is_written(tmp_path):
    store = ResultsStore(str(tmp_path))
    key = "e" * 16
    with pytest.raises(ValueError, match="status: invalid value 'great'"):
        store.write_trial(key, rows(key, [1], status="great"))
    with pytest.raises(ValueError, match="unknown columns"):
        store.write_trial(key, [{**rows(key, [1])[0], "colour": "red"}])
    with pytest.raises(ValueError, match="carry other keys"):
        store.write_trial(key, rows("f" * 16, [1]))
    assert store.table().num_rows == 0


def test_nan_fid_is_stored_as_null_or_nan(tmp_path):
    store = ResultsStore(str(tmp_path))
    r = rows("g" * 16, [5], status="diverged")
    r[0]["fid"] = float("nan")
    store.write_trial("g" * 16, r)
    fid = store.read_trial("g" * 16)[0]["fid"]
    assert fid is None or math.isnan(fid)


def test_archived_trials_leave_the_dataset_but_are_kept(tmp_path):
    store = ResultsStore(str(tmp_path))
    for k in ("h" * 16, "i" * 16):
        store.write_trial(k, rows(k, [1]))
    folder = store.archive(["h" * 16], "interrupted-bo-x")
    assert store.table().column("trial_key").to_pylist() == ["i" * 16]
    assert len(pd.read_parquet(tmp_path / "results")) == 1  # pandas skips the dot-folder too
    assert pq.read_table(f"{folder}/{'h' * 16}.parquet").num_rows == 1


def _damage(results):
    """A truncated trial file, a junk *.parquet, a copy under another name, a stray file."""
    good = (results / ("j" * 16 + ".parquet")).read_bytes()
    (results / ("k" * 16 + ".parquet")).write_bytes(good[: len(good) // 2])
    (results / ("l" * 16 + ".parquet")).write_bytes(b"not parquet at all")
    (results / ("j" * 16 + " (copy).parquet")).write_bytes(good)
    (results / "notes.txt").write_text("a researcher's note")
    return {"k" * 16 + ".parquet", "l" * 16 + ".parquet", "j" * 16 + " (copy).parquet", "notes.txt"}


def test_damaged_and_stray_files_are_quarantined_with_a_warning_never_deleted(tmp_path):
    store = ResultsStore(str(tmp_path))
    store.write_trial("j" * 16, rows("j" * 16, [1, 2]))
    bad = _damage(tmp_path / "results")
    said = []
    table = store.table(repair=True, log=said.append)
    assert table.num_rows == 2 and set(table.column("trial_key").to_pylist()) == {"j" * 16}
    assert sorted(p.name for p in (tmp_path / "results" / ".quarantine").iterdir()) == sorted(bad)
    assert all(any(name in line and "moved to" in line for line in said) for name in bad)
    assert len(pd.read_parquet(tmp_path / "results")) == 2  # any Parquet reader sees the study again
    assert store.scan().bad == {}


def test_without_repair_damaged_files_are_left_out_and_left_in_place(tmp_path):
    store = ResultsStore(str(tmp_path))
    store.write_trial("j" * 16, rows("j" * 16, [1, 2]))
    bad = _damage(tmp_path / "results")
    said = []
    assert store.table(log=said.append).num_rows == 2
    assert len(said) == len(bad) and all("left out" in line for line in said)
    assert all((tmp_path / "results" / name).exists() for name in bad)


def test_compaction_moves_finished_trials_into_one_part_and_readers_see_each_row_once(tmp_path):
    store = ResultsStore(str(tmp_path))
    keys = [f"{i:016x}" for i in range(5)]
    every = {k: rows(k, [1, 2, 3], fid0=10.0 * i) for i, k in enumerate(keys)}
    for k in keys:
        store.write_trial(k, every[k])
    before = store.table().to_pandas().sort_values(["trial_key", "step"]).reset_index(drop=True)
    part = store.compact([r for k in keys[:3] for r in every[k]])
    names = sorted(p.name for p in (tmp_path / "results").iterdir() if not p.name.startswith("."))
    assert names == sorted([part.rsplit("/", 1)[-1]] + [f"{k}.parquet" for k in keys[3:]])
    after = store.table().to_pandas().sort_values(["trial_key", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before)
    assert store.scan().loose == keys[3:]
    assert len(pd.read_parquet(tmp_path / "results")) == 15
    n, = duckdb.connect().execute(f"select count(*) from read_parquet('{tmp_path}/results/*.parquet')").fetchone()
    assert n == 15


def test_a_compaction_interrupted_before_the_deletes_leaves_no_duplicate_rows(tmp_path):
    import analysis

    store = ResultsStore(str(tmp_path))
    keys = ["a" * 16, "b" * 16]
    for k in keys:
        store.write_trial(k, rows(k, [1, 2]))
    saved = {p: p.read_bytes() for p in (tmp_path / "results").glob("*.parquet")}
    store.compact([r for k in keys for r in rows(k, [1, 2])])
    for p, data in saved.items():  # the state a crash between the part's rename and the deletes leaves
        p.write_bytes(data)
    assert len(list((tmp_path / "results").glob("*.parquet"))) == 3  # the part and both trial files
    assert store.table().num_rows == 4 and len(store.scan().duplicates) == 2  # skipped by our readers
    assert len(analysis.load_rows(str(tmp_path))) == 4
    said = []
    store.table(repair=True, log=said.append)  # the driver deletes the duplicates
    assert "removed 2 trial files" in said[0]
    assert len(pd.read_parquet(tmp_path / "results")) == 4
