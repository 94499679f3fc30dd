"""The test helpers themselves: a test signals only processes it started."""
import os
import subprocess
import sys

from tests.helpers import descends_from


def test_descends_from_knows_its_own_children_and_not_other_processes():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert descends_from(child.pid, os.getpid())
        assert not descends_from(os.getppid(), os.getpid())  # our parent is not ours to kill
        assert not descends_from(1, os.getpid())
    finally:
        child.kill()
        child.wait()
