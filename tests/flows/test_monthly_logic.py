"""riskstrat.jobs without Prefect or a pipeline: retrain cadence, step skipping, the month lock."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskstrat import jobs as job
from riskstrat.config import Settings

# --- retraining ---------------------------------------------------------------------------------


def test_no_champion_means_train():
    d = job.retrain_decision("2025-11", None, None, every_months=3)
    assert d.due and "no champion" in d.reason


@pytest.mark.parametrize(("champion_as_of", "due"), [("2025-11", False), ("2025-09", False), ("2025-08", True), ("2024-11", True)])
def test_champion_age_against_cadence(champion_as_of, due):
    d = job.retrain_decision("2025-11", "m-x", champion_as_of, every_months=3)
    assert d.due is due
    assert "m-x" in d.reason


def test_drift_forces_retraining_of_a_young_champion():
    decision = job.retrain_decision("2025-11", "m-x", "2025-10", every_months=3, drift="score PSI 0.312")
    assert decision.due and "score PSI 0.312" in decision.reason
    assert not job.retrain_decision("2025-11", "m-x", "2025-10", every_months=3, drift=None).due


def test_an_edited_specification_forces_retraining_of_a_young_champion():
    d = job.retrain_decision("2025-11", "m-x", "2025-10", every_months=3, changed="cares.yaml: outcome")
    assert d.due and d.reason == "the specification changed since champion m-x learned: cares.yaml: outcome"


def test_a_champion_newer_than_the_month_is_kept():
    d = job.retrain_decision("2025-06", "m-x", "2025-11", every_months=3)
    assert not d.due and "newer" in d.reason


def test_retrain_due_reads_the_workspace(tmp_path):
    d = job.retrain_due(tmp_path, "2025-11", Settings())
    assert d.due and d.champion is None


# --- fingerprints and step records ------------------------------------------------------------------

def _lake(ws: Path, month: str, payload: bytes) -> Path:
    p = ws / "lake" / "eligibility" / f"delivery_month={month}" / "part-0.parquet"
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"payload": [payload]}), p)
    return p


def test_inputs_change_with_settings_and_model(tmp_path):
    _lake(tmp_path, "2025-11", b"x")
    base = Settings()
    other = Settings.model_validate({"scoring": {"capacity": 7}})
    assert job.score_inputs(tmp_path, "2025-11", base, "m-a") == job.score_inputs(tmp_path, "2025-11", base, "m-a")
    assert job.score_inputs(tmp_path, "2025-11", base, "m-a") != job.score_inputs(tmp_path, "2025-11", other, "m-a")
    assert job.score_inputs(tmp_path, "2025-11", base, "m-a") != job.score_inputs(tmp_path, "2025-11", base, "m-b")
    deeper = Settings.model_validate({"model": {"num_leaves": base.model.num_leaves + 8}})
    assert job.train_inputs(tmp_path, "2025-11", base) != job.train_inputs(tmp_path, "2025-11", deeper)


def test_last_months_scores_are_a_scoring_input(tmp_path):
    _lake(tmp_path, "2025-11", b"x")
    before = job.score_inputs(tmp_path, "2025-11", Settings(), "m-a")
    prev = tmp_path / "outputs" / "2025-10" / "scores.parquet"
    prev.parent.mkdir(parents=True)
    prev.write_bytes(b"scores")
    assert job.score_inputs(tmp_path, "2025-11", Settings(), "m-a") != before


def test_a_finished_step_is_current_until_inputs_or_outputs_change(tmp_path):
    out = tmp_path / "outputs" / "2025-11"
    out.mkdir(parents=True)
    (out / "run.json").write_text("{}")
    assert not job.step_is_current(tmp_path, "2025-11", "score", "h1")
    job.record_step(tmp_path, "2025-11", "score", "h1", [out], {"note": "ok"})
    assert job.step_is_current(tmp_path, "2025-11", "score", "h1")
    assert not job.step_is_current(tmp_path, "2025-11", "score", "h2")  # new inputs
    assert not job.step_is_current(tmp_path, "2025-10", "score", "h1")  # another month
    (out / "run.json").write_text('{"edited": true}')
    assert not job.step_is_current(tmp_path, "2025-11", "score", "h1")  # an edited output is rebuilt
    job.record_step(tmp_path, "2025-11", "score", "h1", [out])
    (out / "run.json").unlink()
    assert not job.step_is_current(tmp_path, "2025-11", "score", "h1")  # so is a deleted one


def test_a_damaged_step_file_means_redo_not_crash(tmp_path):
    job.record_step(tmp_path, "2025-11", "train", "h1")
    path = job.state_dir(tmp_path) / "2025-11.steps.json"
    path.write_text("{not json")
    assert not job.step_is_current(tmp_path, "2025-11", "train", "h1")


def test_transient_errors_are_retried_and_answers_are_not():
    import duckdb

    assert job.transient(OSError(5, "Input/output error"))
    assert job.transient(TimeoutError())
    assert job.transient(duckdb.IOException("disk hiccup"))
    assert not job.transient(FileNotFoundError("landing/2025-11"))
    assert not job.transient(ValueError("bad setting"))
    assert not job.transient(job.DeliveryRefused("refused"))


# --- the month lock -------------------------------------------------------------------------------

def _hold(workspace: str, month: str, ready, release, result) -> None:
    lock = job.MonthLock(workspace, month, owner="holder")
    lock.acquire()
    ready.set()
    release.wait(30)
    result.put(lock.release())


def test_a_second_process_cannot_take_a_held_month(tmp_path):
    ctx = mp.get_context("spawn")
    ready, release, result = ctx.Event(), ctx.Event(), ctx.Queue()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), "2025-11", ready, release, result))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(job.MonthBusy, match=r"another run of 2025-11 is in progress \(pid \d+"):
            job.MonthLock(tmp_path, "2025-11").acquire()
        with job.MonthLock(tmp_path, "2025-10"):  # other months are free
            pass
    finally:
        release.set()
        holder.join(30)
    assert result.get(timeout=5) is True
    with job.MonthLock(tmp_path, "2025-11") as lock:  # free again once the holder let go
        assert lock.holder()["pid"] == os.getpid()
    assert not lock.path.exists()


def _take_and_die(workspace: str, month: str) -> None:
    job.MonthLock(workspace, month).acquire()
    os._exit(0)  # crash without releasing


def test_a_dead_holders_lock_is_broken(tmp_path):
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_take_and_die, args=(str(tmp_path), "2025-11"))
    p.start()
    p.join(60)
    stale = job.MonthLock(tmp_path, "2025-11")
    assert stale.holder()["pid"] == p.pid
    with job.MonthLock(tmp_path, "2025-11") as lock:
        assert lock.holder()["pid"] == os.getpid()


def test_a_lock_from_another_host_is_stale_only_when_old(tmp_path):
    lock = job.MonthLock(tmp_path, "2025-11", stale_after=3600)
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps({"token": "t", "pid": 1, "host": socket.gethostname() + "-elsewhere",
                                     "started_at": "then"}))
    with pytest.raises(job.MonthBusy):
        lock.acquire()
    old = time.time() - 7200
    os.utime(lock.path, (old, old))
    lock.acquire()
    assert lock.release()


def test_release_never_removes_someone_elses_lock(tmp_path):
    mine = job.MonthLock(tmp_path, "2025-11").acquire()
    mine.path.write_text(json.dumps({"token": "someone-else", "pid": os.getpid(), "host": socket.gethostname()}))
    assert mine.release() is False
    assert mine.path.exists()


def _race(workspace: str, month: str, start, tried, wins) -> None:
    start.wait(60)
    try:
        lock = job.MonthLock(workspace, month).acquire()
    except job.MonthBusy:
        lock = None
    # The winner holds the lock until every process has tried: on a busy machine a slow starter
    # could otherwise find the month free again and win a second time.
    tried.wait(60)
    if lock is not None:
        wins.put(os.getpid())
        lock.release()


def test_of_processes_racing_for_a_month_exactly_one_wins(tmp_path):
    ctx = mp.get_context("spawn")
    start, tried, wins = ctx.Event(), ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), "2025-11", start, tried, wins)) for _ in range(4)]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every process import and wait at the gate
    start.set()
    for p in procs:
        p.join(60)
    winners = []
    while not wins.empty():
        winners.append(wins.get())
    assert len(winners) == 1


# --- deliveries and the summary ------------------------------------------------------------------------

def test_ingest_batches(tmp_path):
    for m in ("2025-09", "2025-10", "2025-11"):
        (tmp_path / "landing" / m).mkdir(parents=True)
    assert job.ingest_batches(tmp_path, "2025-11") == [None]  # newest: one call ingests all that is new
    assert job.ingest_batches(tmp_path, "2025-10") == ["2025-09", "2025-10"]  # never a later delivery
    assert job.ingest_batches(tmp_path, "2025-12") == ["2025-12"]  # ingest names the missing folder
    assert job.latest_month(tmp_path) == "2025-11"


def test_a_month_with_no_delivery_is_refused(tmp_path):
    (tmp_path / "landing").mkdir()
    with pytest.raises(job.DeliveryRefused, match="no delivery for 2025-11"):
        job.check_delivery(tmp_path, "2025-11", Settings())


def test_a_month_after_a_gap_in_the_deliveries_is_refused(tmp_path):
    from riskstrat.ingest.contracts import TABLES, load_contracts
    from riskstrat.ingest.ledger import write_deliveries

    required = [t for t, c in load_contracts(None).items() if t in TABLES and not c.optional]
    rows = [{"table": t, "delivery_month": m, "file": f"{t}.csv", "status": "accepted"}
            for m in ("2025-09", "2025-10", "2026-01") for t in required]
    write_deliveries(tmp_path / "lake" / "_deliveries.parquet", rows)
    for m in ("2025-10", "2026-01"):
        (tmp_path / "landing" / m).mkdir(parents=True)
    job.check_delivery(tmp_path, "2025-10", Settings())  # in order: nothing to say
    with pytest.raises(job.DeliveryRefused, match=r"landing/2025-12: no delivery for 2025-12 in the lake \(the last "
                                                  r"is 2025-10\); ingest the months between before 2026-01"):
        job.check_delivery(tmp_path, "2026-01", Settings())
    assert job.delivery_problems(tmp_path, "2026-01", Settings(), landing=False)  # score stops on it too


def test_summary_markdown_names_the_failed_step_and_reason():
    s = job.MonthSummary("/w", "2025-11")
    with s.step("ingest"):
        pass
    with pytest.raises(job.DeliveryRefused):
        with s.step("validate"):
            raise job.DeliveryRefused("delivery 2025-11 refused: landing/2025-11/eligibility.csv: refused [required_columns] no member_id")
    md = s.to_markdown()
    assert "failed at **validate**" in md
    assert "[required_columns]" in md
    assert [x.status for x in s.steps] == ["ran", "failed"]
    assert not s.ok and s.lines()[0].endswith("FAILED at validate")
    assert job.artifact_key("2025-11") == "riskstrat-monthly-2025-11"


def test_the_library_stays_free_of_prefect():
    import subprocess
    import sys

    code = "import sys, riskstrat.jobs; sys.exit('prefect' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_public_names_are_documented():
    import inspect

    undocumented = [name for name, obj in vars(job).items()
                    if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                    and obj.__module__ == job.__name__ and not inspect.getdoc(obj)]
    assert undocumented == []
