"""The versions of a study file a study directory ran (study/engine/versions.py)."""
import datetime as dt
import json

import pandas as pd

from study.engine.versions import Version, read_versions, record_version, version_of, version_table


def test_a_directory_that_never_grew_has_one_version(tmp_path):
    assert read_versions(str(tmp_path)) == [Version(1, "study.yaml", "", None)]


def test_each_recorded_version_is_kept_verbatim_and_study_yaml_is_the_newest(tmp_path):
    (tmp_path / "study.yaml").write_text("name: a  # v1\n")
    v2 = record_version(str(tmp_path), "name: a  # v1\n", "name: a  # v2\n")
    assert record_version(str(tmp_path), "name: a  # v2\n", "name: a  # v2\n") == v2  # the same text: no new version
    v3 = record_version(str(tmp_path), "name: a  # v2\n", "name: a  # v3\n")
    assert (v2.number, v3.number) == (2, 3)
    assert [(tmp_path / v.file).read_text() for v in read_versions(str(tmp_path))] == [
        "name: a  # v1\n", "name: a  # v2\n", "name: a  # v3\n"]
    assert (tmp_path / "study.yaml").read_text() == "name: a  # v3\n"
    index = json.loads((tmp_path / "versions" / "index.json").read_text())
    assert [v["recorded_at"] is None for v in index] == [True, False, False]
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_a_trial_belongs_to_the_version_current_when_its_final_row_came():
    t = dt.datetime(2026, 11, 29, 10, tzinfo=dt.timezone.utc)
    versions = [Version(1, "versions/v1.yaml", "a", None),
                Version(2, "versions/v2.yaml", "b", (t + dt.timedelta(hours=1)).isoformat()),
                Version(3, "versions/v3.yaml", "c", (t + dt.timedelta(hours=2)).isoformat())]
    hours = [0, 1.5, 0.5, 3, 3]
    assert [version_of(versions, t + dt.timedelta(hours=h)) for h in hours] == [1, 2, 1, 3, 3]
    rows = pd.DataFrame({"phase": ["grid", "bo", "bo", "bo", "seeds", "bo"], "trial_key": list("abcdef"),
                         "is_final": [True, True, True, True, True, False],
                         "timestamp": [pd.Timestamp(t + dt.timedelta(hours=h)) for h in hours + [3]]})
    table = version_table(versions, rows)
    assert table[["grid", "bo", "seeds"]].to_dict("index") == {1: {"grid": 1, "bo": 1, "seeds": 0},
                                                               2: {"grid": 0, "bo": 1, "seeds": 0},
                                                               3: {"grid": 0, "bo": 1, "seeds": 1}}
    assert table.loc[1, "since"] == "start" and table.loc[3, "file"] == "versions/v3.yaml"
