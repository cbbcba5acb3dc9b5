"""Test data built once per `pytest` run, also when the run is split over worker processes
(pytest-xdist, `make test`): the first process to ask builds it under a lock in a directory
every worker of the run sees; the others wait for the lock and find it ready."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of this run: the session's base temporary directory, or under xdist
    its parent, which every worker's base directory shares (and only this run's workers)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(root: Path, build: Callable[[Path], None]) -> Path:
    """root, built by build(root) (which creates it) unless a process of this run has already
    built it; a build that failed part-way is thrown away and done again."""
    root.parent.mkdir(parents=True, exist_ok=True)
    ready = root.with_name(root.name + ".ready")
    with open(root.with_name(root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not ready.exists():
            shutil.rmtree(root, ignore_errors=True)
            build(root)
            ready.touch()
    return root
