"""Program match: which care-coordination programmes' populations admit a child, and why.

A programme is a model specification with a population rule (``models/<name>.yaml``, see
:mod:`riskstrat.model.specs`); its rule is checked when the file is read.
:meth:`ProgramRules.match` evaluates the rules on a feature frame (vectorised) and words the
conditions each child met with :func:`riskstrat.features.reasons.reason_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskstrat.features import reason_text
from riskstrat.features.rules import Node
from riskstrat.model.specs import Specification
from riskstrat.scoring.flags import ScoringError

NO_MATCH = "none"


@dataclass(frozen=True)
class Program:
    """A programme: id (stable, machine), label (what the worklist shows), description and rule."""

    id: str
    label: str
    description: str
    rule: Node


@dataclass(frozen=True)
class ProgramRules:
    """The programmes of the model specifications, in their order, and the folder they come from.

    run.json records each specification file's sha256 (``inputs.specifications``).
    """

    programs: tuple[Program, ...]
    source: str

    def features(self) -> list[str]:
        """Every feature the rules read, once each, in the order they appear."""
        return list(dict.fromkeys(f for p in self.programs for f in p.rule.features()))

    def require(self, frame: pd.DataFrame) -> None:
        """Refuse a feature frame that lacks a column the rules read, naming the columns."""
        missing = [f for f in self.features() if f not in frame.columns]
        if missing:
            raise ScoringError(f"{self.source}: the feature frame has no column(s) {', '.join(missing)}")

    def match(self, frame: pd.DataFrame, explain: np.ndarray | None = None) -> pd.DataFrame:
        """Per row of ``frame`` (feature columns): ``program_match`` (labels joined by " + ", or
        "none"), ``program_ids`` and ``program_reason`` (the conditions met, in plain language).

        ``explain`` (a boolean mask) limits the wording to those rows (the flagged children);
        the others get an empty reason. The index of the result is the frame's index.
        """
        self.require(frame)
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


def programme_rules(specs: Sequence[Specification]) -> ProgramRules:
    """The programmes among ``specs`` (those with a population rule), in their order."""
    programs = tuple(Program(id=s.name, label=s.spec.population.label,
                             description=" ".join(s.spec.population.description.split()), rule=s.population)
                     for s in specs if s.population is not None)
    folder = str(specs[0].path.parent) if specs else ""
    return ProgramRules(programs=programs, source=folder)
