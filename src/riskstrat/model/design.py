"""The study design: which as-of months a model learns from and which it is judged on.

A design is data that travels with the model (``design.json`` in the registry) and is checked
when it is created, so an impossible design fails before any data is read. Months are
``YYYY-MM`` strings throughout, the same form as the lake partitions.

The registered model learns from every matured child-month the plan has (``fit_months``): the
newest outcome it knows is the newest one that has happened. Its quality is measured without
letting it grade its own homework, by cross-fitting (:mod:`riskstrat.model.train`):

- **Time.** The latest matured months are the ``test_months``. The fits that are judged learn only
  from the months before them (``train_months``), so every test row is later than anything the
  judged fit learned from, as a deployed model's next month is.
- **Children.** Children are split into ``folds`` by a fixed hash of ``person_id``. A child's
  test rows are scored by the fit that never saw that child, so no child is on both sides.
- **Size.** A judged fit learns from at most ``judging_max_rows`` child-months: past that, every
  event and a weighted random share of the other child-months (:func:`~riskstrat.model.train.judging_rows`).
  Only large plans reach it (about 200k members and up, with the defaults); the registered model
  always learns from every child-month. Its early stopping likewise scores at most
  ``stopping_max_rows`` of the fold's own child-months every round.

Every as-of month in the design has its outcome window (the ``horizon_months`` after it) and the
claims run-out closed by the training as-of month, so every label is fully observed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from riskstrat.config import DEFAULT_SPEC, ModelSettings
from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import add_months, check_month, last_matured_month, months_between
from riskstrat.model.labels import OUTCOMES


class DesignError(RiskstratError):
    """A study design that cannot be run; the message names the field and the rule it breaks."""


@dataclass(frozen=True)
class StudyDesign:
    """As-of month, look-back, horizon, outcome, the months judged fits learn from and are tested on, and the folds.

    Build it with :meth:`from_settings`; the constructor checks every field, so a design that
    exists is one that can be run.
    """

    as_of: str
    outcome: str
    horizon_months: int
    lookback_months: int
    train_months: tuple[str, ...]
    test_months: tuple[str, ...]
    folds: int = 3
    runout_months: int = 0
    spec: str = DEFAULT_SPEC
    label_definition: str = field(default="")
    note: str = ""

    def __post_init__(self) -> None:
        check_month(self.as_of, "as_of")
        if self.outcome not in OUTCOMES:
            raise DesignError(f"outcome: {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if self.horizon_months < 1:
            raise DesignError("horizon_months: must be at least 1")
        if self.lookback_months < 1:
            raise DesignError("lookback_months: must be at least 1")
        if self.runout_months < 0:
            raise DesignError("runout_months: must not be negative")
        if self.folds < 2:
            raise DesignError("folds: at least 2, so every child has a fit that never saw them")
        for name in ("train_months", "test_months"):
            months = getattr(self, name)
            if not months:
                raise DesignError(f"{name}: needs at least one month")
            for m in months:
                check_month(m, name)
            if list(months) != sorted(set(months)):
                raise DesignError(f"{name}: months must be distinct and in order")
        if self.train_months[-1] >= self.test_months[0]:
            raise DesignError(f"test_months: {self.test_months[0]} is not after the last of train_months "
                              f"({self.train_months[-1]})")
        if self.test_months[-1] > self.last_matured_month:
            raise DesignError(
                f"test_months: {self.test_months[-1]} has not matured by {self.as_of} "
                f"(outcome over the next {self.horizon_months} months, {self.runout_months} months run-out)"
            )
        if not self.label_definition:
            object.__setattr__(self, "label_definition", self.describe_label())

    @property
    def last_matured_month(self) -> str:
        """The latest as-of month whose outcome window has closed (and run out) by ``as_of``."""
        return last_matured_month(self.as_of, self.horizon_months, self.runout_months)

    @property
    def fit_months(self) -> tuple[str, ...]:
        """Every as-of month the design reads, oldest first: what the registered model learns from."""
        return self.train_months + self.test_months

    def side_of(self, month: str) -> str | None:
        """``"train"``, ``"test"`` or None for a month outside the design."""
        if month in self.train_months:
            return "train"
        if month in self.test_months:
            return "test"
        return None

    def describe_label(self) -> str:
        """The outcome in one sentence, as the model card states it."""
        return (
            f"{self.outcome}: {OUTCOMES[self.outcome]} in the {self.horizon_months} months after the "
            f"as-of month (months T+1 to T+{self.horizon_months}), among children enrolled at T"
        )

    def to_dict(self) -> dict:
        """JSON-ready form (``design.json``)."""
        out = asdict(self)
        for key in ("train_months", "test_months"):
            out[key] = list(out[key])
        out["last_matured_month"] = self.last_matured_month
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "StudyDesign":
        """Inverse of :meth:`to_dict`; re-checks every field."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("train_months", "test_months"):
            known[key] = tuple(known[key])
        return cls(**known)

    @classmethod
    def from_settings(cls, as_of: str, settings: ModelSettings, first_month: str | None = None,
                      spec: str = DEFAULT_SPEC) -> "StudyDesign":
        """Every matured as-of month from ``first_month`` (at most ``settings.train_months`` of them,
        the latest), the last ``settings.test_months`` of them held for testing.

        ``first_month`` is the earliest as-of month the data supports (the first month with a full
        look-back). A short history keeps at least ``settings.min_train_months`` months to learn
        from by testing on fewer months, and the design's ``note`` says so; with fewer than
        ``min_train_months + 1`` matured months the error names what is missing.
        """
        check_month(as_of, "as_of")
        last = last_matured_month(as_of, settings.horizon_months, settings.runout_months)
        start = add_months(last, -(settings.train_months - 1))
        if first_month is not None:
            check_month(first_month, "first_month")
            start = max(start, first_month)
        months = months_between(start, last) if start <= last else []
        test_count = min(settings.test_months, len(months) - settings.min_train_months)
        if test_count < 1:
            needed = settings.min_train_months + 1
            raise DesignError(
                f"train_months: as of {as_of} only {len(months)} matured as-of months are available "
                f"(data supports as-of months from {first_month}, outcomes matured through {last}); at least "
                f"{needed} are needed ({settings.min_train_months} to learn from and 1 to test), which needs data "
                f"supporting {add_months(last, -(needed - 1))} — train with a later --as-of or a longer history"
            )
        note = ""
        if test_count < settings.test_months:
            note = (f"{test_count} test month(s) instead of {settings.test_months}: the plan's history gives "
                    f"{len(months)} matured as-of months and {settings.min_train_months} are kept to learn from")
        return cls(
            as_of=as_of, outcome=settings.outcome, horizon_months=settings.horizon_months,
            lookback_months=settings.lookback_months, train_months=tuple(months[:-test_count]),
            test_months=tuple(months[-test_count:]), folds=settings.folds, runout_months=settings.runout_months,
            spec=spec, note=note,
        )


#: The fold split's salt (:func:`~riskstrat.core.children.child_hash`). Constant on purpose: a child
#: stays in the same fold in every retrain, so a champion and its challenger split the children the same way.
SPLIT_SALT = "riskstrat-split-v1"


def folds_of(split_hashes: np.ndarray, folds: int) -> np.ndarray:
    """The fold (0 … folds-1) of each child from its :data:`SPLIT_SALT` hash
    (``child_hash(person_ids, SPLIT_SALT)``; training works each child's hash out once for every list)."""
    return np.minimum((split_hashes * folds).astype(int), folds - 1)
