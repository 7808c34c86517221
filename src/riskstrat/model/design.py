"""The study design: which as-of months a model learns from, is tuned, calibrated and tested on.

A design is data that travels with the model (``design.json`` in the registry) and is checked
when it is created, so an impossible design fails before any data is read. Months are
``YYYY-MM`` strings throughout, the same form as the lake partitions.

Time runs one way::

    train months  <  tune month(s)  <  calibration months  <  test months  <=  as_of - horizon

Every as-of month in the design has its outcome window (the ``horizon_months`` after it) closed
by the training as-of month, so every label is fully observed. Children are split as well as
months: each child belongs to exactly one side (see ``riskstrat.model.train.split_frame``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from riskstrat.config import ModelSettings
from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import add_months, check_month, last_matured_month
from riskstrat.model.labels import OUTCOMES


class DesignError(RiskstratError):
    """A study design that cannot be run; the message names the field and the rule it breaks."""


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
        if self.outcome not in OUTCOMES:
            raise DesignError(f"outcome: {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
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
        return last_matured_month(self.as_of, self.horizon_months, self.runout_months)

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
            f"{self.outcome}: {OUTCOMES[self.outcome]} in the {self.horizon_months} months after the "
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
        last = last_matured_month(as_of, settings.horizon_months, settings.runout_months)
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


# Constant on purpose: a child held for testing stays held in every retrain, so a champion and
# its challenger never trained on each other's test children.
_SPLIT_SALT = "riskstrat-split-v1"


def person_sides(person_ids: pd.Series, settings: ModelSettings, cache: dict[str, str] | None = None) -> pd.Series:
    """The side each child belongs to, from a fixed hash of ``person_id``: the same in every retrain.

    sha256 rather than Python's ``hash`` so the split is the same in every process and could be
    reproduced in SQL; ``cache`` saves re-hashing the same children month after month.
    """
    cache = {} if cache is None else cache
    codes, uniques = pd.factorize(person_ids.astype("string"))
    uniques = uniques.to_numpy(dtype=object)
    sides = np.array([cache.get(pid) for pid in uniques], dtype=object)
    new = np.flatnonzero(pd.isna(sides))
    if len(new):
        u = np.array([
            int.from_bytes(hashlib.sha256(f"{_SPLIT_SALT}:{uniques[i]}".encode()).digest()[:8], "big") / 2**64 for i in new
        ])
        cut_test = settings.test_share
        cut_cal = cut_test + settings.calibration_share
        cut_tune = cut_cal + settings.tune_share
        sides[new] = np.where(u < cut_test, "test", np.where(u < cut_cal, "calibration", np.where(u < cut_tune, "tune", "train")))
        cache.update(zip(uniques[new].tolist(), sides[new].tolist()))
    out = np.where(codes >= 0, sides[np.maximum(codes, 0)] if len(sides) else None, None)
    return pd.Series(out, index=person_ids.index, dtype=object)
