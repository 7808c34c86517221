"""What every benchmark script shares."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def stderr_progress(every_seconds: float = 10.0) -> Callable[[str, int, int], None]:
    """A library progress callback that prints to stderr at most every ``every_seconds`` (and at
    each stage's end), so a long run shows it is alive without flooding the log bench/run.py keeps."""
    start = time.perf_counter()
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] > every_seconds:
            last[0] = now
            print(f"{stage}: {done}/{total} at {now - start:.0f} s", file=sys.stderr, flush=True)

    return progress
