"""``report`` and ``analyze`` on a study with no finished trial: one line naming the folder, exit 2,
nothing written (issue 22: report ended in a traceback)."""
import pytest

from study.cli import main
from study.engine.store import ResultsStore
from tests.study.engine.test_store import rows


@pytest.mark.parametrize("command", ["report", "analyze"])
@pytest.mark.parametrize("running", [False, True])
def test_no_finished_trial_is_one_line_and_exit_2(tmp_path, capsys, command, running):
    study = tmp_path / "study"
    store = ResultsStore(str(study))
    if running:  # a trial with an evaluation but no final row yet
        store.write_trial("a" * 16, rows("a" * 16, [1, 2])[:1])
    out = tmp_path / "out"
    assert main([command, str(study), "-o" if command == "report" else "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gan-study: error: results: no finished trials under {study}; nothing to {command} yet "
                   f"(gan-study status shows what is left)"]
    assert not out.exists()
