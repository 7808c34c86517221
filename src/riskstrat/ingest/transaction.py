"""How ingest changes the workspace: all of a delivery month, or nothing.

Files are written to a staging folder (``W/.riskstrat-staging/<id>/``), then moved into place; a
failure at any point, or a crash (rolled back by :func:`recover` at the start of the next
ingest), leaves ``lake/``, ``quarantine/`` and ``validation/`` exactly as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from riskstrat.core.files import write_atomic
from riskstrat.core.workspace import LAKE, QUARANTINE, VALIDATION

#: Folders a transaction may change, relative to the workspace.
MANAGED = (LAKE, QUARANTINE, VALIDATION)
STAGING = ".riskstrat-staging"


def _replace(src: Path, dst: Path) -> None:
    """Move one file into place (one ``os.replace``; tests inject failures here)."""
    os.replace(src, dst)


class Transaction:
    """Stage files under ``W/.riskstrat-staging/<id>/``; :meth:`commit` moves them into place.

    Write every new file below :attr:`stage` at its path relative to the workspace (e.g.
    ``stage / "lake/eligibility/delivery_month=2025-11/part-0.parquet"``), list files to delete
    with :meth:`remove`, then :meth:`commit`. A failure inside ``commit`` rolls back; a crash
    leaves a journal that :func:`recover` (called at the start of every ingest) rolls back.
    """

    def __init__(self, workspace: Path | str):
        self.workspace = Path(workspace)
        self.root = self.workspace / STAGING / uuid.uuid4().hex[:12]
        self.stage = self.root / "new"
        self.backup = self.root / "old"
        self.stage.mkdir(parents=True)
        self._remove: list[str] = []

    def remove(self, relative: str | Path) -> None:
        """Delete this workspace file (or folder of files) when the transaction commits."""
        self._remove.append(str(relative))

    def abort(self) -> None:
        """Forget everything staged; the workspace is untouched."""
        shutil.rmtree(self.root, ignore_errors=True)

    def commit(self) -> None:
        """Move staged files into place; on any failure put everything back and re-raise."""
        staged = sorted(str(p.relative_to(self.stage)) for p in self.stage.rglob("*") if p.is_file())
        removed: list[str] = []
        for rel in self._remove:
            target = self.workspace / rel
            if target.is_dir():
                removed += [str(p.relative_to(self.workspace)) for p in target.rglob("*") if p.is_file()]
            elif target.exists():
                removed.append(rel)
        for rel in staged + removed:
            top = Path(rel).parts[0]
            if top not in MANAGED:
                raise ValueError(f"a transaction may only change {', '.join(MANAGED)}, not {rel}")
        journal = {"staged": staged, "replaced": sorted(set(staged + removed))}
        write_atomic(self.root / "journal.json", json.dumps(journal))
        try:
            for rel in journal["replaced"]:
                target = self.workspace / rel
                if target.exists():
                    (self.backup / rel).parent.mkdir(parents=True, exist_ok=True)
                    _replace(target, self.backup / rel)
            for rel in staged:
                target = self.workspace / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                _replace(self.stage / rel, target)
        except BaseException:
            _rollback(self.workspace, self.root)
            raise
        _prune_empty_dirs(self.workspace, removed)
        shutil.rmtree(self.root, ignore_errors=True)


def _prune_empty_dirs(workspace: Path, relatives: list[str]) -> None:
    for rel in relatives:
        parent = (workspace / rel).parent
        while parent != workspace and parent.name not in MANAGED:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _rollback(workspace: Path, root: Path) -> None:
    journal_path = root / "journal.json"
    if journal_path.exists():
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
        stage, backup = root / "new", root / "old"
        created: list[str] = []
        for rel in journal["staged"]:
            if not (stage / rel).exists() and (workspace / rel).exists():
                os.remove(workspace / rel)  # it was moved in: take it out again
                created.append(rel)
        for old in sorted(p for p in backup.rglob("*") if p.is_file()):
            rel = old.relative_to(backup)
            (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, workspace / rel)
        _prune_empty_dirs(workspace, created)
    shutil.rmtree(root, ignore_errors=True)


def recover(workspace: Path | str) -> int:
    """Roll back any transaction a crash left behind; returns how many were rolled back."""
    base = Path(workspace) / STAGING
    if not base.exists():
        return 0
    n = 0
    for root in sorted(p for p in base.iterdir() if p.is_dir()):
        n += (root / "journal.json").exists()
        _rollback(Path(workspace), root)
    shutil.rmtree(base, ignore_errors=True)
    return n
