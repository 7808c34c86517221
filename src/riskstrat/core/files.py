"""Atomic writes: a reader sees a file or a folder whole, or as it was before, never half-written.

A file is written beside its final place under a hidden name and renamed over it (one
``os.replace``, atomic on POSIX). A folder (a model, a scored month) is built in a hidden folder
beside its final place and swapped in; the folder it replaces comes back if the swap fails, and
:func:`recover_folder` undoes what a process killed mid-swap left behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_atomic(path: Path | str, data: bytes | str, encoding: str = "utf-8") -> None:
    """Write ``data`` to ``path`` whole or not at all (creating its folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding=encoding)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def recover_folder(final: Path) -> None:
    """Undo an interrupted :func:`staged_folder`: a half-built folder goes; the folder that was being
    replaced comes back if its successor never arrived."""
    for stale in final.parent.glob(f".tmp-{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for old in sorted(final.parent.glob(f".old-{final.name}-*")):
        if not final.exists():
            os.rename(old, final)
        else:
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_folder(final: Path | str) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``final``; when the block ends, it becomes ``final``.

    An existing ``final`` is swapped out and deleted only once the new folder is in place. If the
    block raises, nothing of it remains and ``final`` is as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(final)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    tmp.mkdir()
    try:
        yield tmp
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(tmp: Path, final: Path) -> None:
    if not final.exists():
        os.rename(tmp, final)
        return
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
