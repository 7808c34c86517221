"""Where things are in a workspace (``../shared/spec/outputs.md``): one place for every folder's name.

::

    landing/YYYY-MM/                       deliveries as the plan sends them
    lake/<table>/delivery_month=YYYY-MM/   canonical Parquet (docs/lake.md)
    lake/_deliveries.parquet               the ingest ledger
    quarantine/<table>/delivery_month=YYYY-MM/
    validation/YYYY-MM/                    Great Expectations results and Data Docs
    features/as_of=YYYY-MM/                each built month's feature table, kept (derived, safe to delete)
    models/                                the trained registry and its champion
    outputs/YYYY-MM/                       one folder per scored month
    outreach/                              the outreach log, accounts and access log, the app's session key
    .riskstrat/                            the monthly job's locks and step records
    truth/                                 synthetic plans only: never read by the pipeline
"""

from __future__ import annotations

from pathlib import Path

from riskstrat.core.months import is_month

LANDING, LAKE, QUARANTINE, VALIDATION = "landing", "lake", "quarantine", "validation"
MODELS, OUTPUTS, STATE, TRUTH = "models", "outputs", ".riskstrat", "truth"
FEATURE_STORE = "features"
DELIVERIES_FILE = "_deliveries.parquet"
PARTITION_FILE = "part-0.parquet"


def landing_months(workspace: Path | str) -> list[str]:
    """Delivery months in ``W/landing/``, in order."""
    root = Path(workspace) / LANDING
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and is_month(p.name))


def partition_path(workspace: Path | str, area: str, table: str, month: str) -> Path:
    """``W/<area>/<table>/delivery_month=YYYY-MM/part-0.parquet`` (area: lake or quarantine)."""
    return Path(workspace) / area / table / f"delivery_month={month}" / PARTITION_FILE


def partition_month(path: Path) -> str:
    """The delivery month of a partition file's path."""
    return path.parent.name.split("=", 1)[1]


def lake_partitions(workspace: Path | str, up_to_month: str | None = None) -> list[Path]:
    """Every lake partition file, in path order; only those delivered up to ``up_to_month`` when given."""
    lake = Path(workspace) / LAKE
    if not lake.is_dir():
        return []
    paths = sorted(lake.glob("*/delivery_month=*/*.parquet"))
    return [p for p in paths if up_to_month is None or partition_month(p) <= up_to_month]


def deliveries_path(workspace: Path | str) -> Path:
    """``W/lake/_deliveries.parquet``."""
    return Path(workspace) / LAKE / DELIVERIES_FILE


def output_dir(workspace: Path | str, month: str) -> Path:
    """``W/outputs/YYYY-MM``: one scored month."""
    return Path(workspace) / OUTPUTS / month


def output_months(workspace: Path | str) -> list[str]:
    """Months with a published ``outputs/YYYY-MM/scores.parquet``, oldest first."""
    root = Path(workspace) / OUTPUTS
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if is_month(p.name) and (p / "scores.parquet").is_file())
