"""One driver per study directory: the lease file, its heartbeat, and taking over from a dead driver."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from study.engine.lock import LOCK_FILE, DriverLock, StudyLocked


def test_a_second_driver_is_refused_with_who_holds_the_study(tmp_path):
    with DriverLock(str(tmp_path)):
        with pytest.raises(StudyLocked, match=rf"in use by another driver \(host {socket.gethostname()}, pid "
                                              rf"{os.getpid()}"):
            DriverLock(str(tmp_path)).acquire()
    assert not (tmp_path / LOCK_FILE).exists()  # released
    DriverLock(str(tmp_path)).acquire().release()  # and free again


def test_a_crashed_driver_on_this_host_frees_the_study_at_once(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"owner": "x", "host": socket.gethostname(),
                                                  "pid": int(dead.stdout), "heartbeat": time.time()}))
    lock = DriverLock(str(tmp_path), log=lambda *a: None).acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["owner"] == lock.owner
    lock.release()


def test_another_hosts_driver_holds_the_study_while_it_beats_and_loses_it_after_the_lease(tmp_path):
    record = {"owner": "x", "host": "elsewhere", "pid": 1, "heartbeat": time.time()}
    (tmp_path / LOCK_FILE).write_text(json.dumps(record))
    with pytest.raises(StudyLocked, match="host elsewhere"):
        DriverLock(str(tmp_path), lease_s=30).acquire()
    (tmp_path / LOCK_FILE).write_text(json.dumps({**record, "heartbeat": time.time() - 31}))
    lock = DriverLock(str(tmp_path), lease_s=30, log=lambda *a: None).acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["host"] == socket.gethostname()
    lock.release()


def test_the_heartbeat_keeps_the_lease_fresh(tmp_path):
    lock = DriverLock(str(tmp_path), lease_s=0.4).acquire()
    first = json.loads((tmp_path / LOCK_FILE).read_text())["heartbeat"]
    time.sleep(0.5)
    assert json.loads((tmp_path / LOCK_FILE).read_text())["heartbeat"] > first
    lock.release()


def test_object_storage_has_no_lock_but_says_so(tmp_path):
    said = []
    DriverLock("s3://bucket/study", log=said.append).acquire().release()
    assert "no driver lock" in said[0]
