"""How long steps report progress: a callback ``(stage, done, total)`` the caller may pass.

The library never draws anything; the command line turns these calls into progress bars and the
Prefect flows forward them to the command line that started them.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def tick(progress: Progress | None, stage: str, done: int, total: int) -> None:
    """Report ``done`` of ``total`` for ``stage``, if anyone listens."""
    if progress is not None:
        progress(stage, done, total)
