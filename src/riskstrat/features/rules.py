"""Rules over declared features: who a programme admits, as a tree a plan writes in YAML.

A rule is ``any:`` (at least one of) or ``all:`` (every one of) over conditions
``{feature, op, value}`` and further ``any:`` / ``all:`` nodes. :func:`parse_rule` checks every
feature name and operator once, when the file is read, so a typo fails the run with the file and
the condition named instead of silently admitting nobody. Rules are evaluated on a feature frame,
vectorised; a missing value never meets a condition.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskstrat.core.errors import RiskstratError

OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
             "!=": operator.ne}


class RuleError(RiskstratError):
    """A rule cannot be used; the message names the file and the condition."""


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
        """Every feature the rule reads, once each, in the order they appear."""
        return list(dict.fromkeys(f for c in self.children for f in c.features()))

    def met(self, frame: pd.DataFrame) -> list[tuple[Condition, np.ndarray]]:
        """Each leaf condition with the rows where it holds (the evidence shown to the worker)."""
        out = []
        for c in self.children:
            out.extend(c.met(frame) if isinstance(c, Node) else [(c, c.test(frame))])
        return out


def _parse(raw, where: str, known: set[str] | None) -> Node | Condition:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: expected a mapping with any:, all: or feature:, got {type(raw).__name__}")
    if "feature" in raw:
        extra = set(raw) - {"feature", "op", "value"}
        if extra:
            raise RuleError(f"{where}: unknown key(s) {sorted(extra)} in a condition")
        feature, op, value = raw.get("feature"), raw.get("op"), raw.get("value")
        if known is not None and feature not in known:
            raise RuleError(f"{where}: feature {feature!r} is not a declared feature (see docs/features.md)")
        if op not in OPERATORS:
            raise RuleError(f"{where}: op {op!r} is not one of {' '.join(OPERATORS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RuleError(f"{where}: value {value!r} must be a number")
        return Condition(feature=str(feature), op=op, value=float(value))
    keys = set(raw)
    if len(keys) != 1 or not keys <= {"any", "all"}:
        raise RuleError(f"{where}: a node has exactly one key, any: or all:, got {sorted(keys)}")
    kind = keys.pop()
    items = raw[kind]
    if not isinstance(items, list) or not items:
        raise RuleError(f"{where}.{kind}: needs a non-empty list")
    return Node(kind=kind, children=tuple(_parse(item, f"{where}.{kind}[{i}]", known) for i, item in enumerate(items)))


def parse_rule(raw, where: str, known_features: set[str] | None = None) -> Node:
    """A checked rule tree; ``where`` (file and field) starts every error message.

    ``known_features`` defaults to no check; pass the declared feature names to refuse typos.
    """
    rule = _parse(raw, where, known_features)
    return rule if isinstance(rule, Node) else Node("all", (rule,))
