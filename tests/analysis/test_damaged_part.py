"""Issue 22: analyze and report read a damaged or deleted part file's checksummed copy, as status
does, so a damaged file hides no finished trial (resume then rebuilds the part)."""
import warnings

import pytest

import analysis
from study.engine.store import ResultsStore
from tests.study.engine.test_part_recovery import DAMAGE, KEYS, _compacted
from tests.study.engine.test_store import rows as rows_of


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_analysis_reads_a_damaged_parts_copy(tmp_path, damage):
    _, part, every = _compacted(tmp_path)
    DAMAGE[damage](part)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        rows = analysis.load_rows(str(tmp_path))
    assert len(rows) == len(every) and sorted(rows[rows["is_final"]]["trial_key"]) == KEYS
    assert any("checksummed copy is read instead" in str(w.message) for w in said)


def test_a_damaged_part_without_its_copy_is_left_out_with_a_warning(tmp_path):
    store, part, _ = _compacted(tmp_path)
    store.write_trial("f" * 16, rows_of("f" * 16, [1, 2]))  # a trial not compacted yet
    DAMAGE["junk"](part)
    DAMAGE["junk"](part.parent / ".parts" / part.name)
    with pytest.warns(UserWarning, match="unreadable Parquet"):
        rows = analysis.load_rows(str(tmp_path))
    assert set(rows["trial_key"]) == {"f" * 16}  # only the trial with its own file
    assert ResultsStore(str(tmp_path)).scan().table.num_rows == len(rows)  # status and analysis agree
