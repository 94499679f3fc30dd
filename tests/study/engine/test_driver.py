"""Driver pieces that need no Ray cluster."""
import builtins

from ray import cloudpickle

from study.engine.driver import Log


def test_the_progress_printer_pickles_after_print_was_replaced(monkeypatch, capsys):
    # Ray's tqdm support swaps builtins.print in the driver; Tune then pickles the callbacks
    original = builtins.print
    lines = []
    monkeypatch.setattr(builtins, "print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    try:
        cloudpickle.dumps(original)
    except Exception:  # noqa: BLE001 - the failure this guards against
        pass
    else:
        raise AssertionError("expected the replaced print to be unpicklable by reference")
    log = cloudpickle.loads(cloudpickle.dumps(Log(original)))
    log("after the round trip")  # prints through whatever print is now
    assert lines == ["after the round trip"]
    seen = []
    Log(seen.append)("direct")
    assert seen == ["direct"]
