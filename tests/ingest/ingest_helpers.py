"""Helpers for the ingest tests: copy the fixture plan, snapshot the lake, edit fixture CSVs."""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
PLAN = DATA / "plan"


def copy_plan(dest: Path, months: tuple[str, ...] = ("2025-01", "2025-02")) -> Path:
    """A workspace holding the given months of the fixture plan."""
    for m in months:
        shutil.copytree(PLAN / "landing" / m, dest / "landing" / m)
    return dest


def snapshot(workspace: Path) -> dict[str, str]:
    """sha256 of every file under lake/, quarantine/ and validation/ (what ingest may change)."""
    out = {}
    for area in ("lake", "quarantine", "validation"):
        root = workspace / area
        if root.exists():
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    out[str(p.relative_to(workspace))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]], str]:
    """Header, rows and delimiter of a (possibly gzipped) fixture CSV."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        text = f.read()
    delim = "|" if text.splitlines()[0].count("|") > text.splitlines()[0].count(",") else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delim))
    return rows[0], rows[1:], delim


def write_csv_rows(path: Path, header: list[str], rows: list[list[str]], delim: str = ",") -> None:
    """Write a fixture CSV (gzipped when the name ends in .gz)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=delim, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
