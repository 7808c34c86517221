"""Program match: which care-coordination programme suits a child, by declared rules.

The rules are data (``programs.yaml`` beside this module, or the plan's own file named by
``scoring.programs_file``): each programme is an ``any:`` / ``all:`` tree of conditions on
declared features. :func:`load_programs` checks every feature name and operator once, when the
file is read, so a bad rule fails the run with the file and the condition named.
:meth:`ProgramRules.match` evaluates the rules on a feature frame (vectorised) and words the
conditions each child met with :func:`riskstrat.features.reasons.reason_text`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from riskstrat.core.errors import RiskstratError
from riskstrat.core.fingerprint import sha256_bytes
from riskstrat.features import feature_names, reason_text

DEFAULT_FILE = "programs.yaml"
NO_MATCH = "none"
OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
             "!=": operator.ne}


class ProgramRulesError(RiskstratError):
    """The programme rules cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Condition:
    """One test on one feature: ``feature op value``."""

    feature: str
    op: str
    value: float

    def test(self, frame: pd.DataFrame) -> np.ndarray:
        col = pd.to_numeric(frame[self.feature], errors="coerce").to_numpy(dtype=float)
        # A missing value never meets a condition: a rule should not fire on absent data.
        return OPERATORS[self.op](col, self.value) & ~np.isnan(col)

    def features(self) -> list[str]:
        return [self.feature]


@dataclass(frozen=True)
class Node:
    """``any`` (at least one child holds) or ``all`` (every child holds) over conditions and nodes."""

    kind: str
    children: tuple

    def test(self, frame: pd.DataFrame) -> np.ndarray:
        results = [c.test(frame) for c in self.children]
        combine = np.logical_or if self.kind == "any" else np.logical_and
        return combine.reduce(results) if len(results) > 1 else results[0]

    def features(self) -> list[str]:
        return [f for c in self.children for f in c.features()]

    def met(self, frame: pd.DataFrame) -> list[tuple[Condition, np.ndarray]]:
        """Each leaf condition with the rows where it holds (the evidence shown to the worker)."""
        out = []
        for c in self.children:
            out.extend(c.met(frame) if isinstance(c, Node) else [(c, c.test(frame))])
        return out


@dataclass(frozen=True)
class Program:
    """A programme: id (stable, machine), label (what the worklist shows), description and rule."""

    id: str
    label: str
    description: str
    rule: Node


@dataclass(frozen=True)
class ProgramRules:
    """The programmes of one rules file, in priority order, and the file's sha256 for provenance."""

    programs: tuple[Program, ...]
    source: str
    sha256: str

    def features(self) -> list[str]:
        """Every feature the rules read, once each, in the order they appear."""
        seen: dict[str, None] = {}
        for p in self.programs:
            for f in p.rule.features():
                seen.setdefault(f, None)
        return list(seen)

    def match(self, frame: pd.DataFrame, explain: np.ndarray | None = None) -> pd.DataFrame:
        """Per row of ``frame`` (feature columns): ``program_match`` (labels joined by " + ", or
        "none"), ``program_ids`` and ``program_reason`` (the conditions met, in plain language).

        ``explain`` (a boolean mask) limits the wording to those rows (the flagged children);
        the others get an empty reason. The index of the result is the frame's index.
        """
        missing = [f for f in self.features() if f not in frame.columns]
        if missing:
            raise ProgramRulesError(f"{self.source}: the feature frame has no column(s) {', '.join(missing)}")
        n = len(frame)
        labels = np.full(n, "", dtype=object)
        ids = np.full(n, "", dtype=object)
        reasons = np.full(n, "", dtype=object)
        for program in self.programs:
            hit = program.rule.test(frame)
            if not hit.any():
                continue
            # Joining strings only where a programme matched keeps this linear in the matches.
            for acc, text, sep in ((labels, program.label, " + "), (ids, program.id, ",")):
                acc[hit] = [a + sep + text if a else text for a in acc[hit]]
            rows = np.flatnonzero(hit if explain is None else hit & np.asarray(explain, dtype=bool))
            if not len(rows):
                continue
            evidence = [(cond, mask[rows], frame[cond.feature].to_numpy()[rows]) for cond, mask in program.rule.met(frame)]
            for k, i in enumerate(rows):
                said: list[str] = []
                for cond, mask, values in evidence:
                    if mask[k]:
                        text = reason_text(cond.feature, values[k])
                        if text not in said:
                            said.append(text)
                line = f"{program.label}: " + "; ".join(said)
                reasons[i] = reasons[i] + " | " + line if reasons[i] else line
        labels[labels == ""] = NO_MATCH
        return pd.DataFrame({"program_match": labels, "program_ids": ids, "program_reason": reasons}, index=frame.index)


def _parse_node(raw, where: str, known: set[str] | None) -> Node | Condition:
    if not isinstance(raw, dict):
        raise ProgramRulesError(f"{where}: expected a mapping with any:, all: or feature:, got {raw!r}")
    if "feature" in raw:
        extra = set(raw) - {"feature", "op", "value"}
        if extra:
            raise ProgramRulesError(f"{where}: unknown key(s) {sorted(extra)} in a condition")
        feature, op, value = raw.get("feature"), raw.get("op"), raw.get("value")
        if known is not None and feature not in known:
            raise ProgramRulesError(f"{where}: feature {feature!r} is not a declared feature (see docs/features.md)")
        if op not in OPERATORS:
            raise ProgramRulesError(f"{where}: op {op!r} is not one of {' '.join(OPERATORS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProgramRulesError(f"{where}: value {value!r} must be a number")
        return Condition(feature=str(feature), op=op, value=float(value))
    keys = set(raw)
    if len(keys) != 1 or not keys <= {"any", "all"}:
        raise ProgramRulesError(f"{where}: a node has exactly one key, any: or all:, got {sorted(keys)}")
    kind = keys.pop()
    items = raw[kind]
    if not isinstance(items, list) or not items:
        raise ProgramRulesError(f"{where}.{kind}: needs a non-empty list")
    return Node(kind=kind, children=tuple(_parse_node(item, f"{where}.{kind}[{i}]", known)
                                         for i, item in enumerate(items)))


def load_programs(path: Path | str | None = None, known_features: set[str] | None = None) -> ProgramRules:
    """Read and check a rules file (default: the ``programs.yaml`` shipped with riskstrat).

    ``known_features`` defaults to the feature declarations; every condition must name one.
    """
    path = Path(path) if path else Path(str(resources.files("riskstrat.scoring").joinpath(DEFAULT_FILE)))
    if known_features is None:
        known_features = set(feature_names())
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProgramRulesError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ProgramRulesError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("programs"), list) or not raw["programs"]:
        raise ProgramRulesError(f"{path}: expected a top-level 'programs:' list")
    programs, seen = [], set()
    for i, entry in enumerate(raw["programs"]):
        where = f"{path.name}: programs[{i}]"
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("rule"):
            raise ProgramRulesError(f"{where}: each programme needs an id and a rule")
        if entry["id"] in seen:
            raise ProgramRulesError(f"{where}: id {entry['id']!r} is listed twice")
        seen.add(entry["id"])
        rule = _parse_node(entry["rule"], f"{where} ({entry['id']}).rule", known_features)
        if isinstance(rule, Condition):
            rule = Node("all", (rule,))
        programs.append(Program(id=str(entry["id"]), label=str(entry.get("label") or entry["id"]),
                                description=" ".join(str(entry.get("description", "")).split()), rule=rule))
    return ProgramRules(programs=tuple(programs), source=str(path), sha256=sha256_bytes(data))


def programs_file(workspace: Path | str, settings) -> Path | None:
    """The rules file ``scoring.programs_file`` names (relative to the workspace), or None for the shipped one."""
    named = settings.programs_file
    if not named:
        return None
    return Path(named) if Path(named).is_absolute() else Path(workspace) / named
