"""Clinical code sets: versioned CSV files plus ``catalog.yaml``, read through small functions.

Why files and not literals: a code set is evidence. Its source and version must be visible
beside the codes, reviewable in a diff, and the same for SQL, features and the synthetic plan.
This module only reads those files; nothing happens on import.

Matching rule (the same in every file; see the header of ``catalog.yaml``): an entry matches a
code exactly or as a prefix, and a code belongs to the group(s) of the *longest* matching entry
of that file. An exact entry therefore beats any prefix (atomoxetine ``N06BA09`` is
``nonstimulant_adhd``, not ``stimulant``); a code meant for two groups is listed at the same
length in both (valproate is ``mood_stabilizer`` and ``anticonvulsant``).
"""

from __future__ import annotations

import functools
import importlib.resources
import io

import pandas as pd
import yaml

__all__ = [
    "catalog",
    "names",
    "load",
    "codes_matching",
    "groups_for_code",
    "billable_icd_codes",
    "normalize_icd",
]

_PACKAGE = "riskstrat.features.codesets"
ICD_SYSTEM = "icd10cm"


def _read_text(filename: str) -> str:
    """Read a file shipped in this package, so it works from a checkout and when installed."""
    return importlib.resources.files(_PACKAGE).joinpath(filename).read_text(encoding="utf-8")


@functools.cache
def catalog() -> dict:
    """Return the parsed ``catalog.yaml``: where every code set comes from and its version.

    Cached because it never changes while the process runs; treat the result as read-only.
    """
    return yaml.safe_load(_read_text("catalog.yaml"))


def _entries() -> dict[str, dict]:
    """Map code-set name to its catalog entry."""
    return {entry["name"]: entry for entry in catalog()["codesets"]}


def names() -> list[str]:
    """Return the names of all code sets, sorted, so callers can list what exists."""
    return sorted(_entries())


def _entry(name: str) -> dict:
    """Return one catalog entry, or fail with the list of known names (typos are common)."""
    entries = _entries()
    if name not in entries:
        raise ValueError(f"unknown code set {name!r}; known code sets: {', '.join(sorted(entries))}")
    return entries[name]


@functools.cache
def _load_cached(name: str) -> pd.DataFrame:
    entry = _entry(name)
    return pd.read_csv(
        io.StringIO(_read_text(entry["file"])), dtype=str, keep_default_na=False, na_filter=False
    )


def load(name: str) -> pd.DataFrame:
    """Return code set ``name`` as a DataFrame with every column as a string.

    Strings, because codes such as revenue ``0450`` or NDC ``00093...`` lose their leading
    zeros as numbers. Returns a copy, so a caller cannot change what the next caller sees.
    Raises ValueError, naming the known code sets, for an unknown name.
    """
    return _load_cached(name).copy()


def codes_matching(name: str, group: str) -> pd.DataFrame:
    """Return the rows of code set ``name`` whose ``group`` is ``group``.

    These are the entries as written (prefixes not expanded, no precedence applied); use
    :func:`billable_icd_codes` or :func:`groups_for_code` to apply them to concrete codes.
    Raises ValueError for a group the code set does not have, naming the ones it has.
    """
    df = load(name)
    known = sorted(df["group"].unique())
    if group not in known:
        raise ValueError(f"code set {name!r} has no group {group!r}; its groups: {', '.join(known)}")
    return df[df["group"] == group].reset_index(drop=True)


@functools.cache
def _index(name: str, code_system: str | None) -> dict[tuple[str, str], tuple[str, ...]]:
    """Map (match, code) to the groups listing it, for fast longest-match look-ups."""
    df = _load_cached(name)
    if code_system is not None and "code_system" in df.columns:
        df = df[df["code_system"] == code_system]
    index: dict[tuple[str, str], list[str]] = {}
    for code, match, group in zip(df["code"], df["match"], df["group"]):
        index.setdefault((match, code), [])
        if group not in index[(match, code)]:
            index[(match, code)].append(group)
    return {key: tuple(groups) for key, groups in index.items()}


def groups_for_code(name: str, code: str, code_system: str | None = None) -> list[str]:
    """Return the groups of code set ``name`` that ``code`` belongs to, by the longest match.

    ``code`` must already be normalised the way the file is (ICD: :func:`normalize_icd`).
    The longest matching entry decides; an exact entry counts as the whole code's length, so
    it beats any prefix. Several groups come back only when they list the code at the same
    length. Returns an empty list when nothing matches. Sorted, so the result is stable.

    ``code_system`` is required for a ``mixed`` code set (utilization_codes): the same digits
    mean different things there (place of service ``11`` is an office, bill type ``11x`` an
    inpatient stay), so a code is only compared with entries of its own system.
    """
    if _entry(name)["code_system"] == "mixed" and code_system is None:
        raise ValueError(
            f"code set {name!r} mixes code systems; pass code_system= one of "
            f"{', '.join(sorted(_load_cached(name)['code_system'].unique()))}"
        )
    index = _index(name, code_system)
    exact = index.get(("exact", code))
    if exact:
        return sorted(exact)
    for length in range(len(code), 0, -1):
        groups = index.get(("prefix", code[:length]))
        if groups:
            return sorted(groups)
    return []


def normalize_icd(code: str) -> str:
    """Return an ICD-10-CM code the way code sets store it: stripped, upper case, no dot.

    Claims carry diagnoses with or without the dot (``F32.9`` or ``f329``); one spelling
    makes joins to code sets exact.
    """
    return code.strip().upper().replace(".", "")


@functools.cache
def _icd_leaves_under(code: str) -> tuple[str, ...]:
    """Billable (leaf) ICD-10-CM codes at or under ``code``, undotted; empty if not a code."""
    import simple_icd_10_cm as icd  # imported late: loading the code table takes a moment

    if not icd.is_valid_item(code):
        return ()
    if icd.is_leaf(code):
        return (normalize_icd(code),)
    return tuple(normalize_icd(d) for d in icd.get_descendants(code) if icd.is_leaf(d))


def billable_icd_codes(name: str, group: str) -> list[str]:
    """Expand the ICD-10-CM entries of one group into the billable codes they cover.

    Synthetic claims and feature tests need concrete codes, not prefixes. Prefix entries are
    expanded to every billable descendant in the ICD-10-CM table shipped with
    simple-icd-10-cm; exact entries count if they are billable. Codes that another group of
    the same file claims with a longer entry are left out (see :func:`groups_for_code`), so
    the result agrees with how claims are classified. Undotted, sorted, no duplicates.
    Raises ValueError if the code set is not ICD-10-CM (``mixed`` sets: ICD rows only).
    """
    entry = _entry(name)
    rows = codes_matching(name, group)
    if entry["code_system"] == "mixed" and "code_system" in rows.columns:
        rows = rows[rows["code_system"] == ICD_SYSTEM]
    elif entry["code_system"] != ICD_SYSTEM:
        raise ValueError(f"code set {name!r} is {entry['code_system']}, not {ICD_SYSTEM}")
    codes: set[str] = set()
    for code, match in zip(rows["code"], rows["match"]):
        if match == "exact":
            leaves = _icd_leaves_under(code)
            codes.update(leaf for leaf in leaves if leaf == code)
        else:
            codes.update(_icd_leaves_under(code))
    return sorted(code for code in codes if group in groups_for_code(name, code, ICD_SYSTEM))
