"""What a synthetic plan is asked to be (:class:`PlanSpec`) and what came out (:class:`PlanSummary`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from riskstrat.core.months import is_month
from riskstrat.synth.reference import PROGRAMS

# Claims paid in the first delivery month were incurred up to a quarter earlier, so the
# simulation starts this many months before the first delivery.
LEAD_IN_MONTHS = 3


class PlanSpec(BaseModel):
    """A synthetic plan: how many members, which delivery months, which seed, how much bad input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    members: int = Field(5000, ge=10, le=5_000_000, description="Persons in the plan (adults and children).")
    months: int = Field(24, ge=1, le=120, description="Monthly deliveries, ending at `end`.")
    end: str = Field("2025-11", description="Last delivery month, YYYY-MM.")
    seed: int = Field(1, ge=0, description="Same seed, same bytes.")
    defect_rate: float = Field(0.0, ge=0.0, le=0.2, description="Share of delivered rows given one realistic defect.")
    programme_effects: dict[str, float] = Field(
        default_factory=dict,
        description="Care programmes given a planted effect, each with the share of its enrolled children's acute "
                    "hazards removed from the month after enrolment (0.4 = 40% fewer); each also enrols children "
                    "month by month, more often the more crises its records show, and most just after one. 0 plants "
                    "the enrolment and no effect.")

    @field_validator("end")
    @classmethod
    def _month(cls, value: str) -> str:
        if not is_month(value):
            raise ValueError(f"end={value!r} is not a month in YYYY-MM form")
        return value

    @field_validator("programme_effects")
    @classmethod
    def _effects(cls, value: dict[str, float]) -> dict[str, float]:
        for name, reduction in value.items():
            if name not in PROGRAMS:
                raise ValueError(f"programme_effects: {name!r} is not a care programme ({', '.join(PROGRAMS)})")
            if not 0.0 <= reduction <= 0.95:
                raise ValueError(f"programme_effects: {name}={reduction} is not a share between 0 and 0.95")
        return dict(sorted(value.items()))

    @property
    def sim_months(self) -> int:
        """Months simulated: the lead-in plus the delivery months."""
        return LEAD_IN_MONTHS + self.months

    @property
    def first_sim_month(self) -> np.datetime64:
        return np.datetime64(self.end, "M") - (self.sim_months - 1)

    def delivery_labels(self) -> list[str]:
        """The delivery months, oldest first, as YYYY-MM."""
        last = np.datetime64(self.end, "M")
        return [str(last - (self.months - 1 - k)) for k in range(self.months)]


@dataclass
class PlanSummary:
    """Counts of what a plan generated; no member-level data."""

    spec: PlanSpec
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    persons: int = 0
    households: int = 0
    children: int = 0
    births: int = 0
    defects: int = 0
    seconds: float = 0.0

    def table_rows(self) -> list[tuple[str, int, int]]:
        """(table, rows delivered over all months, files written) per table."""
        return [(name, self.rows.get(name, 0), self.files.get(name, 0)) for name in self.rows]

    def describe(self) -> list[str]:
        """A few plain lines about the plan (no member data)."""
        s = self.spec
        labels = s.delivery_labels()
        return [
            f"{self.persons:,} persons in {self.households:,} households; {self.children:,} children "
            f"(aged 0-20 at some point), {self.births:,} born during the window",
            f"{s.months} monthly deliveries {labels[0]} .. {labels[-1]}, seed {s.seed}",
            f"defects injected: {self.defects:,} (rate {s.defect_rate:g}); listed in truth/defects.parquet",
            f"generated in {self.seconds:.1f} s",
        ]
