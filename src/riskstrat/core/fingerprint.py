"""Content hashes: what a delivery, a lake, a model or an output was made from.

One digest format everywhere: sha256 in hex. :func:`lake_fingerprint` is the lake as a
training run, a scoring run or the monthly job reads it (every partition delivered up to a
month), and :func:`code_fingerprint` is the code that computed an output.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from functools import cache, lru_cache
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from riskstrat.core import workspace as layout


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks so a large extract never sits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes already in memory (a model's files, a rules file as read)."""
    return hashlib.sha256(data).hexdigest()


def fingerprint(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON: equal inputs, equal fingerprint, whatever the dict order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A file changed within this long of now could change again without its size or times changing
# (a file system's clock tick: 2 s on FAT); 3 s leaves room for a network file system's clock.
_RACY_NS = 3_000_000_000


def _hash_partition(path: str) -> tuple[str, int]:
    return sha256_file(path), pq.read_metadata(path).num_rows


@lru_cache(maxsize=8192)
def _cached_partition_hash(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> tuple[str, int]:
    """A lake partition's sha256 and rows, once per process while the file is unchanged.

    A monthly run fingerprints the lake for the drift check, scoring, training and publishing;
    hashing 36 months of a 500k-member lake takes seconds each time. Ingest publishes a partition
    by renaming a new file into place, so any change gives a new inode and times, hence a new key.
    """
    return _hash_partition(path)


def lake_fingerprint(workspace: Path | str, up_to_month: str) -> dict:
    """Every lake partition delivered up to ``up_to_month``: its sha256 and rows, and one digest over all.

    Ingest writes the same bytes for the same delivery, so equal digests mean equal inputs. Paths
    are relative to the workspace; the digest is over the ``path sha256`` lines in path order.
    """
    workspace = Path(workspace)
    partitions = {}
    for path in layout.lake_partitions(workspace, up_to_month):
        st = path.stat()
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _RACY_NS:
            sha, rows = _hash_partition(str(path))  # written just now: not trusted to the cache (git's "racy" rule)
        else:
            sha, rows = _cached_partition_hash(str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns,
                                               st.st_ctime_ns)
        partitions[path.relative_to(workspace).as_posix()] = {"sha256": sha, "rows": rows}
    digest = hashlib.sha256("\n".join(f"{k} {v['sha256']}" for k, v in partitions.items()).encode()).hexdigest()
    return {"digest": digest, "partitions": partitions}


# What decides an output: the package's code, SQL, code sets, declarations, templates and the
# contracts, model specifications and flows shipped inside it.
_CODE_SUFFIXES = (".py", ".sql", ".csv", ".yaml", ".yml", ".json", ".html", ".md")


# Packages whose files are shipped beside the library's code: walked under their own names, so an
# editable install (where they live outside src/) and a wheel give the same digest.
_SHIPPED = ("data_contracts", "model_specs", "flows")


def _files_under(package: str) -> list[tuple[str, Any]]:
    found, stack = [], [(resources.files(package), f"{package.replace('.', '/')}/")]
    while stack:
        folder, prefix = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                top_shipped = package == "riskstrat" and entry.name in _SHIPPED
                if entry.name != "__pycache__" and not top_shipped:
                    stack.append((entry, f"{prefix}{entry.name}/"))
            elif Path(entry.name).suffix in _CODE_SUFFIXES:
                found.append((f"{prefix}{entry.name}", entry))
    return found


@cache
def _package_digest() -> str:
    files = _files_under("riskstrat") + [f for name in _SHIPPED for f in _files_under(f"riskstrat.{name}")]
    return _digest_files(hashlib.sha256(), files)


# What a month's feature table is computed from, besides the lake: the concepts, code sets and
# declarations, the final-claim rule and views, the contracts and the code that types the lake with
# them, the month and SQL helpers, and DuckDB.
_FEATURE_PACKAGES = ("riskstrat.features", "riskstrat.lake", "riskstrat.data_contracts", "riskstrat.ingest",
                     "riskstrat.core")


@cache
def features_code_digest() -> str:
    """A digest over the code that builds feature tables (narrower than :func:`code_fingerprint`,
    so a change elsewhere, a report template say, keeps every stored month's features)."""
    digest = hashlib.sha256(f"duckdb {version('duckdb')}".encode())
    return _digest_files(digest, [f for package in _FEATURE_PACKAGES for f in _files_under(package)])


def _digest_files(digest, files: list[tuple[str, Any]]) -> str:
    for name, entry in sorted(files, key=lambda f: f[0]):
        digest.update(name.encode())
        digest.update(hashlib.sha256(entry.read_bytes()).hexdigest().encode())
    return digest.hexdigest()


def _git(here: Path) -> tuple[str | None, bool | None]:
    """The commit of a source checkout and whether it has edits; (None, None) for an installed wheel."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True,
                                timeout=5)
        return commit.stdout.strip(), (bool(status.stdout.strip()) if status.returncode == 0 else None)
    except (OSError, subprocess.SubprocessError):
        return None, None


@cache
def code_fingerprint() -> dict:
    """The code that computes: package version, a digest over every file that decides an output, and the
    git commit (and whether it had edits) when riskstrat runs from a source checkout.

    A git commit alone would miss uncommitted edits and an installed wheel has none; a version
    number is not bumped for every change; the files themselves are what decide the outputs.
    Cached: the code does not change while a process runs.
    """
    commit, dirty = _git(Path(str(resources.files("riskstrat"))))
    return {"package": "riskstrat", "version": version("riskstrat"), "digest": _package_digest(),
            "git_commit": commit, "git_dirty": dirty, "lightgbm": version("lightgbm")}
