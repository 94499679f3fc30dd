"""One driver per study directory: a lease file with a heartbeat.

``<study_dir>/driver.lock`` holds the driver's owner id, host, pid and last heartbeat. It is
created atomically (O_EXCL); a second driver finds it and stops with a clear error. A driver
that crashed frees the study at once when the next driver runs on the same host (its pid is
gone), and after ``lease_s`` without a heartbeat otherwise. Object storage (s3://, gs://) has no
atomic create: there the lock is skipped with a warning.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from study.gan.config import ConfigError

LOCK_FILE = "driver.lock"
LEASE_S = 60.0


class StudyLocked(ConfigError):
    """Another driver holds the study directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DriverLock:
    def __init__(self, study_dir: str, lease_s: float = LEASE_S, log=print) -> None:
        self.local = "://" not in study_dir or study_dir.startswith("file://")
        self.path = Path(study_dir.removeprefix("file://")) / LOCK_FILE if self.local else None
        self.lease_s, self.log = lease_s, log
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict:
        return {"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # being written, or damaged: judged by its age below

    def _stale(self, held: dict) -> bool:
        if held.get("host") == socket.gethostname() and isinstance(held.get("pid"), int):
            return not _pid_alive(held["pid"])
        beat = held.get("heartbeat")
        if not isinstance(beat, (int, float)):
            beat = self.path.stat().st_mtime if self.path.exists() else 0.0
        return time.time() - beat > self.lease_s

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self._record(), f)
        return True

    def acquire(self) -> "DriverLock":
        if not self.local:
            self.log("warning: no driver lock on object storage: run one driver per study directory")
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create():
                break
            held = self._read()
            if held is None:
                continue  # released meanwhile
            if not self._stale(held):
                age = time.time() - held.get("heartbeat", time.time())
                raise StudyLocked(f"study_dir: {self.path.parent} is in use by another driver (host "
                                  f"{held.get('host', '?')}, pid {held.get('pid', '?')}, last heartbeat {age:.0f}s "
                                  f"ago); run one driver per study. A driver that died frees it after "
                                  f"{self.lease_s:.0f}s (at once on the same host)")
            self._break(held)
        else:
            raise StudyLocked(f"study_dir: could not take {self.path}; another driver is starting")
        self._thread = threading.Thread(target=self._beat, name="study-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _break(self, held: dict) -> None:
        """Remove a stale lock, under a second O_EXCL file so that two drivers never both break it."""
        guard = self.path.with_name(LOCK_FILE + ".break")
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if time.time() - guard.stat().st_mtime > self.lease_s:
                guard.unlink(missing_ok=True)
            return
        os.close(fd)
        try:
            if self._read() == held:
                self.log(f"taking over the study from a driver that stopped (host {held.get('host', '?')}, "
                         f"pid {held.get('pid', '?')})")
                self.path.unlink(missing_ok=True)
        finally:
            guard.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            held = self._read()
            if held and held.get("owner") != self.owner:
                self.log(f"warning: another driver took {self.path}; this one keeps running but no longer holds it")
                return
            tmp = self.path.with_name(f".{LOCK_FILE}.{self.owner}")
            tmp.write_text(json.dumps(self._record()))
            os.replace(tmp, self.path)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.local and self._thread is not None:
            held = self._read()
            if held and held.get("owner") == self.owner:
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> "DriverLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
