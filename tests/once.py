"""Session fixtures built once per test run, however many pytest-xdist workers ask for them."""

from __future__ import annotations

import fcntl
from pathlib import Path


def built_once(tmp_path_factory, worker_id: str, name: str, build) -> Path:
    """``build(folder)`` run once for the whole test run, whichever worker asks first; the other
    worker waits for it and uses the same folder (the pattern pytest-xdist documents for a costly
    session fixture). The fixtures built this way are only read by the tests."""
    if worker_id == "master":  # no xdist: this process is the only one
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker of this run
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            folder.mkdir()
            build(folder)
            done.touch()
    return folder
