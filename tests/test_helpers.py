"""The test helpers themselves: a test signals only processes it started."""
import os
import subprocess
import sys
import time

from tests.helpers import descends_from, own_processes, session_members


def test_descends_from_knows_its_own_children_and_not_other_processes():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert descends_from(child.pid, os.getpid())
        assert not descends_from(os.getppid(), os.getpid())  # our parent is not ours to kill
        assert not descends_from(1, os.getpid())
    finally:
        child.kill()
        child.wait()


def test_own_processes_and_session_members_find_only_what_the_test_started():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # marker-7f3a"],
                             start_new_session=True)
    try:
        # On a loaded machine the child may not have exec'd its command line yet: wait for it.
        deadline = time.monotonic() + 20
        while not own_processes(os.getpid(), "marker-7f3a") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert own_processes(os.getpid(), "marker-7f3a") == [child.pid]
        assert session_members(child.pid) == [child.pid]
        assert os.getpid() not in session_members(child.pid)
    finally:
        child.kill()
        child.wait()
