"""The audit a model carries from training, and the audit each scoring month publishes, on a real small plan.

The plan (conftest.py) is synth -> ingest -> train -> score through the library; these tests
read what those stages wrote: the model folder's fairness.json and drift_reference.json, its
card, and each month's run.json and report.html.
"""

import json

import pandas as pd
import pytest
from auditplan import SCORED

from riskstrat import jobs as job
from riskstrat.audit.fairness import GROUP_COLUMNS
from riskstrat.audit.workspace import monitoring_history
from riskstrat.config import AuditSettings, load_settings
from riskstrat.model import registry
from riskstrat.model.labels import build_labels

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(scored_plan):
    return registry.load_model(scored_plan)


def test_the_model_folder_carries_fairness_and_a_drift_reference_under_its_checksums(model):
    sums = json.loads((model.path / "checksums.json").read_text())
    assert {"fairness.json", "drift_reference.json", "fairness.svg"} <= set(sums)
    fair = model.fairness
    assert fair["available"] and fair["months"] == list(model.design.test_months)
    table = pd.DataFrame(fair["table"])
    assert list(dict.fromkeys(table["attribute"])) == list(GROUP_COLUMNS)
    everyone = table[table["group"] == "all children"]
    assert (everyone["n"] == fair["rows"]).all()  # every test row is counted once in every attribute
    assert {n["attribute"] for n in fair["need"]} == {"race", "ethnicity", "aid_category"}
    assert fair["gaps"]  # a sentence, even when no gap is clear
    # The reference profiles the model's own features (read from the model, not a fixed list) and its
    # score, pooled and for each training month; the plan's look-back is complete from 2024-09.
    reference = model.drift_reference
    # The year-before features reach back 24 months, before this plan's data in every training
    # month: never known in training, they have no reference and are not compared.
    year_before = {f for f in model.feature_names if f.endswith("_prior_year")}
    assert year_before and set(reference["months_left_out_by_column"]) == year_before
    assert all(reference["months_left_out_by_column"][f] == reference["months"] for f in year_before)
    compared = {*model.feature_names, "score"} - year_before
    assert set(reference["profiles"]) == compared
    assert reference["months"] == list(reference["by_month"]) and reference["months"][0] == "2024-09"
    assert set(reference["months"]) <= {*model.design.train_months, *model.design.test_months}
    assert reference["full_look_back_from"] == "2024-09" and reference["months_left_out"] == []
    assert sum(m["rows"] for m in reference["by_month"].values()) == reference["rows"]
    assert set(reference["spread"]) == {"adjacent", "any"}
    assert set(reference["spread"]["any"]) == compared


def test_the_audit_files_are_checked_but_are_not_the_models_identity(model, tmp_path):
    import shutil

    copy = tmp_path / model.model_id
    shutil.copytree(model.path, copy)
    (copy / "fairness.json").write_text("{}\n")
    with pytest.raises(registry.RegistryError, match="fairness.json: checksum does not match"):
        registry.verify(copy)
    sums = json.loads((copy / "checksums.json").read_text())
    sums.pop("fairness.json")
    (copy / "checksums.json").write_text(json.dumps(sums))
    (copy / "fairness.json").unlink()
    registry.verify(copy)  # a model registered before the audit files existed still loads


def test_the_card_states_fairness_with_tables_plots_and_words(model):
    md = (model.path / "card.md").read_text()
    html = (model.path / "card.html").read_text()
    section = md.split("### 22.")[1].split("### 23.")[0]
    assert "Not available" not in section
    assert "| attribute | group | children | share | flag rate |" in section
    assert "Need at equal score by race" in section and "need_race.svg" in section
    for number in (13, 15, 28, 29):
        part = md.split(f"### {number}.")[1].split("###")[0]
        assert "Not available" not in part, number
    assert "Not available" in md.split("### 24.")[1].split("###")[0]  # no external data: stated missing
    assert "docs/label_choice.md" in md
    assert html.count("<svg") >= 6  # calibration, lift, fairness and three need-at-equal-score plots, inline


def _list_audit(workspace, month: str, spec: str = "acute_event") -> dict:
    """The month's audit of one list, as run.json publishes it."""
    return json.loads((workspace / "outputs" / month / "run.json").read_text())["audit"]["lists"][spec]


def test_each_month_publishes_drift_fairness_and_monitoring(scored_plan, model):
    run = _list_audit(scored_plan, "2025-11")
    assert set(run["psi"]) == {"training", "last month"}  # 2025-10 was published with a profile
    year_before = {f for f in model.feature_names if f.endswith("_prior_year")}  # no reference: see above
    assert set(run["psi"]["training"]) == {*model.feature_names, "score"} - year_before
    assert set(run["profile"]) == {*model.feature_names, "score"}
    assert [m["month"] for m in run["monitoring"]] == ["2025-01", "2025-02"]  # matured by 2025-11
    first = _list_audit(scored_plan, "2025-01")
    assert set(first["psi"]) == {"training"} and any("no comparison with last month" in n for n in first["notes"])
    assert first["monitoring"] is None

    report = (scored_plan / "outputs" / "2025-11" / "report.html").read_text()
    for heading in ("<h2>Drift</h2>", "<h2>Fairness of this month's flags</h2>", "<h2>Realised performance of past months</h2>"):
        assert heading in report
    assert "PSI vs training" in report and "PSI vs last month" in report
    assert "2025-02" in report.split("Realised performance of past months")[1]
    # Nothing was planted in the plan: no month's report opens with a warning.
    for month in SCORED:
        audit = json.loads((scored_plan / "outputs" / month / "run.json").read_text())["audit"]
        assert audit["warnings"] == [], (month, audit["warnings"])
    assert 'class="warnings"' not in report
    assert run["notes"][0].startswith("Against training: 2025-11 is compared with 2024-11, the same calendar month in training;")
    assert not any(tag in report for tag in ("<script", "<link", 'src="http', "url(http"))  # offline: nothing fetched


def test_no_member_identifiers_in_the_audit_outputs(scored_plan, model):
    scores = pd.read_parquet(scored_plan / "outputs" / "2025-11" / "scores.parquet", columns=["person_id", "member_id"])
    ids = set(scores["person_id"].astype(str)) | set(scores["member_id"].dropna().astype(str))
    texts = [(model.path / name).read_text() for name in ("fairness.json", "drift_reference.json", "card.md")]
    texts.append(json.dumps(json.loads((scored_plan / "outputs" / "2025-11" / "run.json").read_text())["audit"]))
    texts.append((scored_plan / "outputs" / "2025-11" / "report.html").read_text())
    for text in texts:
        assert not any(f'"{i}"' in text or f">{i}<" in text for i in ids)


def test_the_champions_drift_decides_a_retrain(scored_plan, model):
    settings = load_settings(scored_plan)
    calm = job.champion_drift(scored_plan, "2025-11", settings).checks
    assert list(calm) == ["acute_event"]  # the only list with a champion
    assert calm["acute_event"].model_id == model.model_id and "score PSI" in calm["acute_event"].reason
    strict = settings.model_copy(update={"audit": AuditSettings(retrain_score_psi=1e-9)})
    checks = job.champion_drift(scored_plan, "2025-11", strict)
    assert checks.checks["acute_event"].due
    plan = job.plan_train(scored_plan, "2025-11", strict, drift=checks.due())
    assert plan.run and "acute_event" in plan.specs
    assert "drift since champion" in plan.reason and "score PSI" in plan.reason
    off = settings.model_copy(update={"audit": AuditSettings(retrain_score_psi=1e-9, retrain_on_drift=False)})
    assert job.champion_drift(scored_plan, "2025-11", off) is None  # drift may not retrain: nothing to build


def test_a_judged_month_is_reused_only_while_its_scores_are_the_same(scored_plan, model):
    settings = load_settings(scored_plan)
    labelled = []

    def outcomes(month, runout_months, known_month):
        labelled.append(month)
        return build_labels(scored_plan, month, settings, runout_months=runout_months, known_month=known_month)[0]

    fresh, _ = monitoring_history(scored_plan, model, settings, outcomes, known_month="2025-11")
    assert len(labelled) == 2
    rows = fresh.astype(object).to_dict("records")
    marked = [dict(r, auroc=0.123) for r in rows]
    labelled.clear()
    reused, _ = monitoring_history(scored_plan, model, settings, outcomes, known_month="2025-11", judged=marked)
    assert list(reused["auroc"]) == [0.123, 0.123] and labelled == []  # taken from the earlier history, not rebuilt
    for changed in ({"scores_sha256": "0" * 64}, {"deliveries": "a corrected delivery"}):
        stale = [dict(r, auroc=0.123, **changed) for r in rows]
        rebuilt, _ = monitoring_history(scored_plan, model, settings, outcomes, known_month="2025-11", judged=stale)
        assert list(rebuilt["auroc"]) == list(fresh["auroc"])
    published = _list_audit(scored_plan, "2025-11")["monitoring"]
    assert [r["scores_sha256"] for r in published] == list(fresh["scores_sha256"])
