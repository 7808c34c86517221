"""One validated settings model for a workspace.

Every command reads ``riskstrat.toml`` from the workspace folder (if present) through
:func:`load_settings`; every field has a default and a one-line meaning, so a plan can start
with no file at all and ``riskstrat config`` shows what is in force.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONFIG_FILE = "riskstrat.toml"


class _Section(BaseModel):
    # A misspelt key in riskstrat.toml must fail loudly, not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(_Section):
    max_bad_row_share: float = Field(
        0.05, ge=0, le=1, description="Refuse a table's delivery when more than this share of its rows breaks row rules."
    )
    min_service_date: str = Field(
        "2000-01-01", description="Earliest service, paid or enrolment date accepted as sane (YYYY-MM-DD)."
    )


class ModelSettings(_Section):
    outcome: str = Field("acute_event", description="Label the model predicts: acute_event, ed_2plus, ip_admit or high_cost.")
    horizon_months: int = Field(6, ge=1, le=12, description="Months after the as-of month in which the outcome is observed.")
    lookback_months: int = Field(12, ge=3, le=36, description="Months of history the features look back over.")
    train_months: int = Field(12, ge=1, le=36, description="As-of months stacked into one training frame.")
    seed: int = Field(20261123, description="Seed for model fitting, so a retrain on the same data gives the same model.")


class ScoringSettings(_Section):
    capacity: int = Field(200, ge=1, description="Children the outreach team can take on per month: the top this many are flagged.")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="Also flag every child whose calibrated risk is at or above this, if set."
    )
    suppress_days: int = Field(
        180, ge=0, description="Days a decline or unable-to-reach status keeps a child off the worklist."
    )


class ScheduleSettings(_Section):
    cron: str = Field("0 6 5 * *", description="When the monthly flow runs (cron, plan's time zone): 06:00 on the 5th.")
    timezone: str = Field("America/New_York", description="Time zone of the cron schedule.")
    retrain_every_months: int = Field(3, ge=1, description="Retrain the model when the champion is this many months old.")


class Settings(_Section):
    """Everything a workspace can configure; sections mirror the pipeline stages."""

    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Landing to lake.")
    model: ModelSettings = Field(default_factory=ModelSettings, description="Training and labels.")
    scoring: ScoringSettings = Field(default_factory=ScoringSettings, description="Flags and worklist.")
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings, description="The monthly job.")


class SettingsError(ValueError):
    """riskstrat.toml exists but cannot be used; the message names the file and the key."""


def load_settings(workspace: Path) -> Settings:
    """Read ``workspace/riskstrat.toml`` if it exists, else return the defaults."""
    path = Path(workspace) / CONFIG_FILE
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"{path}: {where}: {first['msg']}") from None


def describe_settings(settings: Settings) -> list[tuple[str, object, str]]:
    """(key, value, meaning) for every field, for ``riskstrat config`` and the docs."""
    rows = []
    for section_name, section_field in Settings.model_fields.items():
        section = getattr(settings, section_name)
        for name, field in type(section).model_fields.items():
            rows.append((f"{section_name}.{name}", getattr(section, name), field.description or ""))
    return rows
