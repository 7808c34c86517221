"""A failure at any point of an ingest leaves lake/, quarantine/ and validation/ exactly as they were."""

from __future__ import annotations

import shutil

import pytest
from ingest_helpers import PLAN, copy_plan, snapshot
from typer.testing import CliRunner

import riskstrat.ingest.run as ingest_mod
import riskstrat.ingest.transaction as txn_mod
from riskstrat.cli import app
from riskstrat.config import IngestSettings
from riskstrat.ingest import IngestError, ingest_workspace
from riskstrat.ingest.ledger import read_deliveries
from riskstrat.ingest.transaction import STAGING, recover

FAST = IngestSettings(data_docs=False)


class Boom(RuntimeError):
    pass


@pytest.fixture(scope="module")
def january(tmp_path_factory):
    """A workspace with 2025-01 ingested and 2025-02 waiting in landing/."""
    ws = copy_plan(tmp_path_factory.mktemp("january"), months=("2025-01",))
    ingest_workspace(ws, settings=FAST)
    return ws


def _fresh(january, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(january, ws)
    shutil.copytree(PLAN / "landing" / "2025-02", ws / "landing" / "2025-02")
    return ws


def _fail_on_call(monkeypatch, k):
    real = txn_mod._replace
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == k:
            raise Boom(f"injected failure at move {k}")
        real(src, dst)

    monkeypatch.setattr(txn_mod, "_replace", flaky)
    return calls


@pytest.mark.parametrize("k", [1, 9])
def test_failure_mid_commit_rolls_back(january, tmp_path, monkeypatch, k):
    ws = _fresh(january, tmp_path)
    before = snapshot(ws)
    _fail_on_call(monkeypatch, k)
    with pytest.raises(Boom):
        ingest_workspace(ws, month="2025-02", settings=FAST)
    assert snapshot(ws) == before
    assert not (ws / STAGING).exists() or not any((ws / STAGING).iterdir())
    if k == 9:
        monkeypatch.undo()
        report = ingest_workspace(ws, settings=FAST)  # and the next run ingests the month whole
        assert report.months == ["2025-02"] and report.ok


def test_failure_before_commit_leaves_nothing(january, tmp_path, monkeypatch):
    ws = _fresh(january, tmp_path)
    before = snapshot(ws)

    def explode(*args, **kwargs):
        raise Boom("injected failure while validating")

    monkeypatch.setattr(ingest_mod, "build_checks", explode)
    with pytest.raises(Boom):
        ingest_workspace(ws, month="2025-02", settings=FAST)
    assert snapshot(ws) == before
    assert not (ws / STAGING).exists() or not any((ws / STAGING).iterdir())


def test_a_crash_mid_commit_is_rolled_back_by_the_next_run(january, tmp_path, monkeypatch):
    ws = _fresh(january, tmp_path)
    before = snapshot(ws)
    _fail_on_call(monkeypatch, 6)
    # the process dies: no rollback, no clean-up
    monkeypatch.setattr(txn_mod, "_rollback", lambda workspace, root: None)
    monkeypatch.setattr(txn_mod.Transaction, "abort", lambda self: None)
    with pytest.raises(Boom):
        ingest_workspace(ws, month="2025-02", settings=FAST)
    assert snapshot(ws) != before  # half a month is lying around ...
    monkeypatch.undo()
    assert recover(ws) == 1  # ... until the next ingest starts
    assert snapshot(ws) == before


def test_unknown_month_is_a_one_line_error(january):
    with pytest.raises(IngestError, match="2031-01: no such delivery folder"):
        ingest_workspace(january, month="2031-01")


def test_cli_prints_the_reconciliation(tmp_path):
    ws = copy_plan(tmp_path, months=("2025-01",))
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(ws)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for word in ("eligibility", "medical_claim", "accepted", "2025-01"):
        assert word in result.output
    again = CliRunner().invoke(app, ["ingest", "--workspace", str(ws)], env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "nothing new" in again.output.lower()


def test_cli_fails_with_one_line_per_bad_table(tmp_path):
    ws = copy_plan(tmp_path, months=("2025-01",))
    (ws / "landing" / "2025-01" / "ed_visit.csv").write_bytes(b"visit_id,member_id\nV9,M001\n")
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(ws)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "ed_visit.csv" in result.output and "missing required column arrival_datetime" in result.output
    # scoring the month stops on the same ledger, before reading a model
    scored = CliRunner().invoke(app, ["score", "--workspace", str(ws), "--as-of", "2025-01"], env={"COLUMNS": "200"})
    assert scored.exit_code == 1
    assert "delivery 2025-01 refused: landing/2025-01/ed_visit.csv: failed [required_columns]" in scored.output


def test_cli_fails_when_a_required_table_is_not_delivered(tmp_path):
    ws = copy_plan(tmp_path, months=("2025-01",))
    (ws / "landing" / "2025-01" / "pharmacy_claim.csv.gz").unlink()
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(ws)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "pharmacy_claim (2025-01): missing [readable] no file for this table in the delivery" in result.output


def test_cli_warns_of_columns_the_contract_does_not_name(tmp_path):
    ws = copy_plan(tmp_path, months=("2025-01",))
    path = ws / "landing" / "2025-01" / "medical_claim.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("hcpcs_code", "hcpcs_cd")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(ws)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "landing/2025-01/medical_claim.csv: column(s) not in the data contract, not read: hcpcs_cd" in result.output
    ledger = {r["table"]: r["ignored_columns"] for r in read_deliveries(ws)}
    assert ledger["medical_claim"] == "hcpcs_cd" and ledger["eligibility"] is None
