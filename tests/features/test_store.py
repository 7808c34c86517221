"""The feature store: a month's features built once and read back while the lake up to it and the code stay the same."""

from __future__ import annotations

import shutil

import pytest

from riskstrat.core.fingerprint import lake_fingerprint
from riskstrat.features import build_features
from riskstrat.features.store import features_key, is_stored, stored_features, stored_path
from riskstrat.model.labels import build_training_frame

T = "2025-03"


@pytest.fixture()
def lake(full_lake, tmp_path):
    return shutil.copytree(full_lake, tmp_path / "plan", ignore=shutil.ignore_patterns("features"))


def test_stored_features_are_the_built_ones_and_are_read_back(lake):
    built = build_features(lake, T)
    first = stored_features(lake, T)
    path = stored_path(lake, T)
    written = path.stat().st_mtime_ns
    again = stored_features(lake, T)
    assert path.stat().st_mtime_ns == written  # read, not rebuilt
    for frame in (first, again):
        assert frame.equals(built) and list(frame.dtypes) == list(built.dtypes)
        assert frame.attrs["as_of"] == T


def test_a_changed_delivery_up_to_the_month_rebuilds_a_later_one_does_not(lake):
    partitions = lake_fingerprint(lake, "2025-12")["partitions"]
    stored_features(lake, T, partitions=partitions)
    key = features_key(T, partitions)
    earlier = next(p for p in partitions if "delivery_month=2025-02" in p)
    later = next(p for p in partitions if "delivery_month=2025-07" in p)
    assert features_key(T, {**partitions, later: {"sha256": "0" * 64}}) == key
    changed = {**partitions, earlier: {"sha256": "0" * 64}}
    assert features_key(T, changed) != key
    assert is_stored(lake, T, partitions) and not is_stored(lake, T, changed)
    written = stored_path(lake, T).stat().st_mtime_ns
    stored_features(lake, T, partitions=changed)
    assert stored_path(lake, T).stat().st_mtime_ns != written


def test_an_unreadable_stored_table_is_rebuilt(lake):
    stored_path(lake, T).parent.mkdir(parents=True)
    stored_path(lake, T).write_bytes(b"not parquet")
    assert not is_stored(lake, T, lake_fingerprint(lake, T)["partitions"])
    assert stored_features(lake, T).equals(build_features(lake, T))


def test_training_fills_the_store_once_and_then_reads_it_back(lake):
    months = ["2025-02", "2025-03"]
    partitions = lake_fingerprint(lake, "2025-03")["partitions"]
    assert not any(is_stored(lake, m, partitions) for m in months)
    first = build_training_frame(lake, months, outcome="acute_event").frame
    assert all(is_stored(lake, m, partitions) for m in months)
    written = {m: stored_path(lake, m).stat().st_mtime_ns for m in months}
    again = build_training_frame(lake, months, outcome="acute_event").frame
    assert {m: stored_path(lake, m).stat().st_mtime_ns for m in months} == written  # read back, not rebuilt
    assert again.equals(first)

