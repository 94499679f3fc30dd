"""Per model, the generators of the k best finished trials are kept; the rest are deleted as
trials finish, and what a dead driver left is pruned at start-up."""
import math

from study.engine.keep import GeneratorKeeper, ranking


def _row(key, model, fid, status="ok", final=True):
    return {"trial_key": key, "model": model, "best_fid": fid, "status": status, "is_final": final}


def _files(root, *keys):
    for key in keys:
        folder = root / "generators" / key
        folder.mkdir(parents=True)
        (folder / "best.pt").write_bytes(b"weights")


def _left(root):
    return sorted(p.name for p in (root / "generators").iterdir())


def test_ranking_is_by_best_fid_then_key_and_leaves_out_what_cannot_rank():
    rows = [_row("c", "m", 3.0), _row("a", "m", 1.0), _row("b", "m", 1.0), _row("d", "m", math.nan),
            _row("e", "m", 0.5, status="failed"), _row("f", "m", 0.1, final=False), _row("g", "n", 2.0, "diverged")]
    assert ranking(rows) == {"m": [(1.0, "a"), (1.0, "b"), (3.0, "c")], "n": [(2.0, "g")]}


def test_offer_keeps_the_top_k_per_model_as_trials_finish(tmp_path):
    _files(tmp_path, "a", "b", "c", "x", "running")
    keeper = GeneratorKeeper(str(tmp_path), k=2)
    keeper.offer(_row("a", "m", 5.0))
    keeper.offer(_row("b", "m", 4.0))
    assert _left(tmp_path) == ["a", "b", "c", "running", "x"]
    keeper.offer(_row("c", "m", 1.0))  # a (5.0) falls out of the top 2
    assert _left(tmp_path) == ["b", "c", "running", "x"]
    keeper.offer(_row("x", "other", 9.0))  # another model ranks on its own
    keeper.offer({"trial_key": "b2", "model": "m", "status": "failed", "is_final": True})  # no file, no harm
    assert _left(tmp_path) == ["b", "c", "running", "x"]
    assert keeper.kept == {"m": [(1.0, "c"), (4.0, "b")], "other": [(9.0, "x")]}


def test_a_failed_or_non_finite_trial_loses_its_file(tmp_path):
    _files(tmp_path, "f", "n")
    keeper = GeneratorKeeper(str(tmp_path), k=1)
    keeper.offer({"trial_key": "f", "model": "m", "status": "failed", "is_final": True})
    keeper.offer(_row("n", "m", math.nan, status="diverged"))
    assert _left(tmp_path) == []


def test_prune_at_start_deletes_finished_losers_only(tmp_path):
    _files(tmp_path, "a", "b", "c", "running")
    rows = [_row("a", "m", 2.0), _row("b", "m", 1.0), _row("c", "m", 3.0), _row("running", "m", 0.1, final=False)]
    keeper = GeneratorKeeper(str(tmp_path), k=1, rows=rows)
    assert keeper.prune() == 2
    assert _left(tmp_path) == ["b", "running"]


def test_keep_zero_keeps_no_finished_generator(tmp_path):
    _files(tmp_path, "a")
    GeneratorKeeper(str(tmp_path), k=0).offer(_row("a", "m", 1.0))
    assert _left(tmp_path) == []
