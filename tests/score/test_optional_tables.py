"""A plan that never sends the optional tables, or sends care_management late, still scores every month.

care_management and sdoh_screening are optional deliveries (inputs.md). A synthetic plan is
delivered without them (every month), or with care_management only from its last month; it is
ingested, and each month is scored, explained, audited and published with the registry's model,
through the command line as an analyst would run it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskstrat.audit.workspace import month_groups, read_scores
from riskstrat.cli import app
from riskstrat.config import IngestSettings
from riskstrat.features import build_features
from riskstrat.ingest import ingest_workspace, read_deliveries
from riskstrat.model.registry import champions
from riskstrat.publish.outputs import month_files
from riskstrat.synth import PlanSpec, generate_plan

pytestmark = pytest.mark.slow

END, BEFORE = "2025-11", "2025-10"
OPTIONAL = ("care_management", "sdoh_screening")


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> Path:
    """One synthetic plan as the generator delivers it (both optional tables every month)."""
    root = tmp_path_factory.mktemp("optional-source")
    generate_plan(root, PlanSpec(members=900, months=4, end=END, seed=21, defect_rate=0.0))
    return root


def _plan(delivered: Path, root: Path, model_workspace: Path, drop: dict[str, tuple[str, ...]]) -> Path:
    """A copy of the plan without the files ``drop`` names ({month: tables}), ingested, with the registry's model."""
    shutil.copytree(delivered / "landing", root / "landing")
    for month, tables in drop.items():
        for table in tables:
            for path in (root / "landing" / month).glob(f"{table}.*"):
                path.unlink()
    shutil.copytree(model_workspace / "models", root / "models")
    (root / "riskstrat.toml").write_text("[scoring]\ncapacity = 20\n", encoding="utf-8")
    report = ingest_workspace(root, settings=IngestSettings(data_docs=False))
    assert report.ok, report.problems()
    return root


def _months(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "landing").iterdir())


@pytest.fixture(scope="module")
def never(delivered, tmp_path_factory, model_workspace) -> Path:
    months = _months(delivered)
    return _plan(delivered, tmp_path_factory.mktemp("never"), model_workspace, {m: OPTIONAL for m in months})


@pytest.fixture(scope="module")
def late(delivered, tmp_path_factory, model_workspace) -> Path:
    months = [m for m in _months(delivered) if m < END]
    return _plan(delivered, tmp_path_factory.mktemp("late"), model_workspace, {m: ("care_management",) for m in months})


def _score(root: Path, month: str) -> dict:
    result = CliRunner().invoke(app, ["score", "--workspace", str(root), "--as-of", month])
    assert result.exit_code == 0, result.output
    out = root / "outputs" / month
    assert sorted(p.name for p in out.iterdir()) == sorted(month_files(list(champions(root))))
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


def test_the_plans_really_lack_the_tables(never, late):
    delivered = {(r["table"], r["delivery_month"]) for r in read_deliveries(never)}
    assert not {t for t, _ in delivered} & set(OPTIONAL)
    late_cm = sorted(m for t, m in {(r["table"], r["delivery_month"]) for r in read_deliveries(late)}
                     if t == "care_management")
    assert late_cm == [END]


def test_a_plan_that_never_sends_the_optional_tables_scores_every_month(never):
    for month in (BEFORE, END):
        run = _score(never, month)
        assert run["inputs"]["care_management_snapshot"] is None
        assert [n for n in run["notes"] if "care_management" in n] == [
            "no care_management snapshot has been delivered: only the outreach log keeps children off the lists"]
        assert run["rows"]["suppressed"] == 0 and run["counts"]["lists"]["acute_event"]["flagged"] == 20
        assert all(audit["psi"] for audit in run["audit"]["lists"].values())  # computed for every list, not skipped
        scores = read_scores(never, month)
        assert not scores["suppressed"].any()
    report = (never / "outputs" / END / "report.html").read_text(encoding="utf-8")
    assert "No scores were published for the month before" not in report  # last month was compared
    features = build_features(never, END)
    assert (features["cans_assessment_6m"] == 0).all()  # known only from screenings
    assert features["sdoh_domains_12m"].sum() > 0  # social needs still come from claims' Z-codes


def test_a_month_before_the_first_care_management_delivery_scores_and_the_next_suppresses(late):
    before = _score(late, BEFORE)
    assert before["inputs"]["care_management_snapshot"] is None and before["rows"]["suppressed"] == 0
    after = _score(late, END)
    assert after["inputs"]["care_management_snapshot"] == END
    assert not [n for n in after["notes"] if "care_management" in n]
    assert after["rows"]["suppressed"] > 0  # the generator's enrolled children leave the list once it is known


def test_the_audit_reads_a_month_without_the_optional_tables(never):
    _score(never, END)
    groups = month_groups(never, END)
    scores = read_scores(never, END)
    assert set(scores["person_id"]) <= set(groups["person_id"])
    assert isinstance(groups, pd.DataFrame) and {"race", "age_band", "aid_category"} <= set(groups.columns)


def test_a_snapshot_delivered_empty_or_not_at_all_is_said_so():
    from riskstrat.scoring.month import snapshot_note

    ledger = pd.DataFrame({"table": ["care_management", "eligibility"], "delivery_month": ["2025-12", "2025-12"],
                           "rows_accepted": [0, 5000]})
    assert snapshot_note("2025-12", "2025-12", ledger) is None
    assert snapshot_note("2025-12", "2025-11", ledger) == ("the care_management snapshot of 2025-12 was delivered "
                                                           "with no rows; suppression read the 2025-11 snapshot "
                                                           "instead: check the extract")
    assert snapshot_note("2025-12", "2025-11", ledger.iloc[1:]) == ("no care_management snapshot was delivered for "
                                                                    "2025-12: suppression read the 2025-11 snapshot")


def test_an_earlier_delivery_held_in_part_is_named_in_every_later_month():
    from riskstrat.scoring.month import earlier_refusals_note

    ledger = pd.DataFrame({"table": ["medical_claim", "eligibility", "medical_claim"],
                           "delivery_month": ["2025-10", "2025-10", "2025-11"], "file": ["medical_claim.csv"] * 3,
                           "status": ["failed", "accepted", "accepted"], "rows_accepted": [0, 10, 10]})
    assert earlier_refusals_note("2025-11", ledger) == (
        "earlier deliveries are in the lake without a table that was not accepted (landing/2025-10/medical_claim.csv "
        "failed): the features of every later month read those months without it; redeliver and ingest them")
    assert earlier_refusals_note("2025-10", ledger) is None  # the month itself is refused by its own check
