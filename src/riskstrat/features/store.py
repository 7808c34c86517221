"""Each as-of month's feature table, kept in the workspace once built (``features/as_of=YYYY-MM/``).

A month's features read only deliveries up to that month (:mod:`riskstrat.features.build`), so
once its delivery is in the lake they stay the same: scoring builds them, and every later training
run that learns from that month reads them back instead of rebuilding them from the claims (a
rebuild is most of what training from the lake costs).

They would change only if a delivery up to the month were ingested again or the code that builds
features changed, so the table is stored with a key over exactly those: the sha256 of every lake
partition delivered up to the month and :func:`~riskstrat.core.fingerprint.features_code_digest`.
A table whose key differs is rebuilt and replaced; the folder is derived data, and deleting it
only costs the rebuild.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskstrat.config import Settings
from riskstrat.core.files import write_atomic
from riskstrat.core.fingerprint import features_code_digest, fingerprint, lake_fingerprint
from riskstrat.core.months import check_month
from riskstrat.core.progress import Progress, tick
from riskstrat.core.workspace import FEATURE_STORE, partition_month
from riskstrat.features.build import build_feature_months, build_features, check_lookback
from riskstrat.features.spark import build_features_spark, engine_session

_KEY = b"riskstrat.features_key"


def stored_path(workspace: Path | str, as_of: str) -> Path:
    """``W/features/as_of=YYYY-MM/features.parquet``."""
    return Path(workspace) / FEATURE_STORE / f"as_of={as_of}" / "features.parquet"


def features_key(as_of: str, partitions: dict[str, dict]) -> str:
    """What the month's features are computed from: the partitions delivered up to it and the feature code.

    ``partitions``: :func:`~riskstrat.core.fingerprint.lake_fingerprint`'s ``partitions`` (path ->
    sha256), of this month or any later one; those delivered after ``as_of`` are left out.
    """
    known = {path: entry["sha256"] for path, entry in partitions.items() if partition_month(Path(path)) <= as_of}
    return fingerprint({"as_of": as_of, "lake": known, "code": features_code_digest()})


def _stored_key(path: Path) -> bytes | None:
    try:
        return (pq.read_schema(path).metadata or {}).get(_KEY)
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        return None


def _read(path: Path, key: str) -> pd.DataFrame | None:
    if _stored_key(path) != key.encode():  # the key alone first: a stale month is not read whole
        return None
    try:
        table = pq.read_table(path)
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        return None
    frame = table.replace_schema_metadata(None).to_pandas()
    frame["person_id"] = frame["person_id"].astype("string")
    return frame


def is_stored(workspace: Path | str, as_of: str, partitions: dict[str, dict]) -> bool:
    """Whether the store holds ``as_of``'s features for this lake and code (read from the file's key only)."""
    return _stored_key(stored_path(workspace, as_of)) == features_key(as_of, partitions).encode()


def _build(workspace: Path | str, as_of: str, settings: Settings) -> pd.DataFrame:
    """The month's features on the engine ``settings.engine`` names. Both give the same table (the
    Spark parity test), so the store is shared: a month built on one engine is read on the other."""
    if settings.engine.name == "spark":
        return build_features_spark(engine_session(settings), workspace, as_of, settings)
    return build_features(workspace, as_of, settings)


def stored_features(workspace: Path | str, as_of: str, settings: Settings | None = None, *,
                    partitions: dict[str, dict] | None = None) -> pd.DataFrame:
    """:func:`~riskstrat.features.build_features` of ``as_of``, read from the store when it holds them for
    the same lake and code, else built from the lake and stored.

    ``partitions``: the lake's partition hashes when the caller already has them (a training run
    reads many months of one lake); without them they are hashed here.
    """
    check_month(as_of, "as_of")
    settings = settings or Settings()
    check_lookback(settings)
    if partitions is None:
        partitions = lake_fingerprint(workspace, as_of)["partitions"]
    key = features_key(as_of, partitions)
    path = stored_path(workspace, as_of)
    frame = _read(path, key)
    if frame is None:
        frame = _build(workspace, as_of, settings)
        _write(path, frame, key)
    frame.attrs["as_of"] = as_of
    return frame


def _write(path: Path, frame: pd.DataFrame, key: str) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _KEY: key.encode()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_atomic(path, buffer.getvalue())


def store_months(workspace: Path | str, months: Sequence[str], settings: Settings | None = None, *,
                 partitions: dict[str, dict] | None = None, progress: Progress | None = None) -> list[str]:
    """Build and store the features of those ``months`` the store lacks; returns the months built.

    On DuckDB the missing months are built together, from one pass over the claims
    (:func:`~riskstrat.features.build.build_feature_months`), and each is stored as soon as it is
    built, so a run stopped halfway keeps the months it finished. On Spark, month by month.
    ``partitions`` as for :func:`stored_features`, of the latest month or a later one.
    """
    settings = settings or Settings()
    check_lookback(settings)
    if partitions is None:
        partitions = lake_fingerprint(workspace, max(months))["partitions"] if months else {}
    missing = sorted(m for m in set(months) if not is_stored(workspace, m, partitions))
    if missing:
        tick(progress, "building features from the claims", 0, len(missing))
    if settings.engine.name == "spark":
        built = ((month, _build(workspace, month, settings)) for month in missing)
    else:
        built = build_feature_months(workspace, missing, settings)
    for i, (month, frame) in enumerate(built, start=1):
        _write(stored_path(workspace, month), frame, features_key(month, partitions))
        del frame  # not held while the next month is built
        tick(progress, "building features from the claims", i, len(missing))
    return missing
