"""Where a result came from: package version and git revision (computed once per driver)."""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import study


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(study.__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance() -> dict[str, str | None]:
    return {"package_version": study.__version__, "git_revision": git_revision()}
