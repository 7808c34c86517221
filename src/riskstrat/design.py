"""The study design: which as-of months a model learns from, is tuned, calibrated and tested on.

A design is data that travels with the model (``design.json`` in the registry) and is checked
when it is created, so an impossible design fails before any data is read. Months are
``YYYY-MM`` strings throughout, the same form as the lake partitions.

Time runs one way::

    train months  <  tune month(s)  <  calibration months  <  test months  <=  as_of - horizon

Every as-of month in the design has its outcome window (the ``horizon_months`` after it) closed
by the training as-of month, so every label is fully observed. Children are split as well as
months: each child belongs to exactly one side (see ``riskstrat.train.split_frame``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from riskstrat.config import ModelSettings

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

class DesignError(ValueError):
    """A study design that cannot be run; the message names the field and the rule it breaks."""


def _outcomes() -> dict[str, str]:
    # Each outcome is defined once, by the labels stage; the design only names one.
    from riskstrat.labels import OUTCOMES

    return OUTCOMES


def check_month(value: str, what: str = "month") -> str:
    """Return ``value`` if it is a ``YYYY-MM`` month, else raise :class:`DesignError`."""
    if not isinstance(value, str) or not _MONTH.match(value):
        raise DesignError(f"{what}: {value!r} is not a month in YYYY-MM form")
    return value


def add_months(month: str, k: int) -> str:
    """``month`` shifted by ``k`` months (negative goes back): ``add_months("2025-01", -1) == "2024-12"``."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + k
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive (empty if ``last`` is before ``first``)."""
    out, month = [], first
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


@dataclass(frozen=True)
class StudyDesign:
    """As-of month, look-back, horizon, outcome and the train/tune/calibration/test months.

    Build it with :meth:`from_settings`; the constructor checks every field, so a design that
    exists is one that can be run.
    """

    as_of: str
    outcome: str
    horizon_months: int
    lookback_months: int
    train_months: tuple[str, ...]
    tune_months: tuple[str, ...]
    calibration_months: tuple[str, ...]
    test_months: tuple[str, ...]
    runout_months: int = 0
    label_definition: str = field(default="")

    def __post_init__(self) -> None:
        check_month(self.as_of, "as_of")
        outcomes = _outcomes()
        if self.outcome not in outcomes:
            raise DesignError(f"outcome: {self.outcome!r} is not one of {', '.join(outcomes)}")
        if self.horizon_months < 1:
            raise DesignError("horizon_months: must be at least 1")
        if self.lookback_months < 1:
            raise DesignError("lookback_months: must be at least 1")
        if self.runout_months < 0:
            raise DesignError("runout_months: must not be negative")
        sides = (
            ("train_months", self.train_months),
            ("tune_months", self.tune_months),
            ("calibration_months", self.calibration_months),
            ("test_months", self.test_months),
        )
        for name, months in sides:
            if not months:
                raise DesignError(f"{name}: needs at least one month")
            for m in months:
                check_month(m, name)
            if list(months) != sorted(set(months)):
                raise DesignError(f"{name}: months must be distinct and in order")
        for (earlier_name, earlier), (later_name, later) in zip(sides, sides[1:]):
            if earlier[-1] >= later[0]:
                raise DesignError(f"{later_name}: {later[0]} is not after the last of {earlier_name} ({earlier[-1]})")
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
        return add_months(self.as_of, -(self.horizon_months + self.runout_months))

    @property
    def all_months(self) -> tuple[str, ...]:
        """Every as-of month the design reads, oldest first."""
        return self.train_months + self.tune_months + self.calibration_months + self.test_months

    def side_of(self, month: str) -> str | None:
        """``"train"``, ``"tune"``, ``"calibration"``, ``"test"`` or None for a month outside the design."""
        for name in ("train", "tune", "calibration", "test"):
            if month in getattr(self, f"{name}_months"):
                return name
        return None

    def describe_label(self) -> str:
        """The outcome in one sentence, as the model card states it."""
        return (
            f"{self.outcome}: {_outcomes()[self.outcome]} in the {self.horizon_months} months after the "
            f"as-of month (months T+1 to T+{self.horizon_months}), among children enrolled at T"
        )

    def to_dict(self) -> dict:
        """JSON-ready form (``design.json``)."""
        out = asdict(self)
        for key in ("train_months", "tune_months", "calibration_months", "test_months"):
            out[key] = list(out[key])
        out["last_matured_month"] = self.last_matured_month
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "StudyDesign":
        """Inverse of :meth:`to_dict`; re-checks every field."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("train_months", "tune_months", "calibration_months", "test_months"):
            known[key] = tuple(known[key])
        return cls(**known)

    @classmethod
    def from_settings(cls, as_of: str, settings: ModelSettings, first_month: str | None = None) -> "StudyDesign":
        """Lay the months out back from ``as_of``: test, calibration, tune, then up to ``train_months``.

        ``first_month`` is the earliest as-of month the data supports (e.g. the first month with a
        full look-back); training months before it are not used. Fewer than
        ``settings.min_train_months`` training months is an error naming what is missing.
        """
        check_month(as_of, "as_of")
        if first_month is not None:
            check_month(first_month, "first_month")
        last = add_months(as_of, -(settings.horizon_months + settings.runout_months))
        cursor = last
        laid: dict[str, tuple[str, ...]] = {}
        for name, count in (
            ("test_months", settings.test_months),
            ("calibration_months", settings.calibration_months),
            ("tune_months", settings.tune_months),
        ):
            months = tuple(add_months(cursor, -i) for i in reversed(range(count)))
            laid[name] = months
            cursor = add_months(months[0], -1)
        train = [add_months(cursor, -i) for i in reversed(range(settings.train_months))]
        if first_month is not None:
            train = [m for m in train if m >= first_month]
        if len(train) < settings.min_train_months:
            earliest_needed = add_months(cursor, -(settings.min_train_months - 1))
            raise DesignError(
                f"train_months: as of {as_of} only {len(train)} matured training months are available "
                f"(data supports as-of months from {first_month}); at least {settings.min_train_months} are needed, "
                f"which needs data supporting {earliest_needed} — train with a later --as-of or a longer history"
            )
        return cls(
            as_of=as_of,
            outcome=settings.outcome,
            horizon_months=settings.horizon_months,
            lookback_months=settings.lookback_months,
            train_months=tuple(train),
            runout_months=settings.runout_months,
            **laid,
        )
