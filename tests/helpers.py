"""Helpers shared by the tests: watching a running study, and checking a trained trial."""
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


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def own_processes(ancestor: int, command_contains: str) -> list[int]:
    """PIDs of ``ancestor``'s descendants whose command line contains the text (from /proc):
    the processes a test started, never another user's."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == ancestor:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if command_contains in cmdline and descends_from(int(entry.name), ancestor):
            out.append(int(entry.name))
    return out


def session_members(session: int) -> list[int]:
    """PIDs still in the process session a test started (start_new_session=True makes the child
    its leader); orphans re-parented to init keep it, so a test can reap exactly what it began."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[3]) == session:  # field 6 of stat: the session id
                out.append(int(entry.name))
    return out


def kill_trials_when(results: Path, ready, timeout_s: float = 120.0):
    """Start a thread that SIGKILLs this test session's Ray trial processes (descendants of this
    process running a Tune function trainable) once ``ready(rows)`` holds for the rows of
    ``results``; return the thread and a dict it fills with pid -> the highest stored step."""
    import os
    import signal
    import threading
    import time

    killed: dict[int, int] = {}

    def watch() -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline and not killed:
            files = result_files(results)
            rows = read_rows(files) if files else None
            if rows is not None and ready(rows):
                for pid in own_processes(os.getpid(), "ImplicitFunc"):
                    os.kill(pid, signal.SIGKILL)
                    killed[pid] = int(rows["step"].max())
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, killed


def trained_row(cfg, cache: dict) -> dict:
    """The final row of ``run_trial(cfg)``, which must have trained to the end: status ``ok`` at
    the last step, a finite FID and finite losses (and intra-FID for a conditional trial). A
    trial is deterministic on CPU for a given config, so ``cache`` (config -> row) runs each
    config once for the tests of a module that meet it twice."""
    import math

    from study.gan.trial import run_trial

    if cfg not in cache:
        rows = []
        run_trial(cfg, rows.append)
        assert rows, f"no row reported for {cfg}"
        cache[cfg] = rows[-1]
    row = cache[cfg]
    what = {k: v for k, v in cfg.to_dict().items() if v != getattr(type(cfg)(), k)}  # the non-default settings
    assert row["status"] == "ok", f"{what}: {row['status']} at step {row['step']}: {row['error']}"
    assert row["step"] == cfg.steps and row["is_final"], (what, row)
    for name in ("fid", "d_loss", "g_loss") + (("intra_fid",) if cfg.conditional else ()):
        assert math.isfinite(row[name]), f"{what}: {name} = {row[name]}"
    return row
