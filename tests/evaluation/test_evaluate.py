"""Programme evaluation on a real synthetic plan with a planted effect: Stronger Together's enrolment
removes 40% of a child's acute hazards from the next month, CARES's removes none, and both enrol
children likelier at high risk and just after a crisis (``--plant-effect``).

The plan (10k members, 35 months) is generated, ingested and scored with a real registry once for
the module; the evaluations run through the library, the command line and the Prefect flow. At
this size acute admissions are too rare to estimate (a few per thousand child-months): the
planted effect is checked on ED visits here, and on admissions by ``bench/bench_evaluation.py``
on a 300k-member plan (bench/RESULTS.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from riskstrat.config import load_settings
from riskstrat.evaluation import FILES, EvaluationError, evaluate_programme, evaluation_dir
from riskstrat.ingest import ingest_workspace
from riskstrat.lake import connect
from riskstrat.synth import PlanSpec, generate_plan

pytestmark = pytest.mark.slow

END, FIRST, LAST = "2025-11", "2024-01", "2024-11"
PLANTED = {"stronger_together": 0.4, "cares": 0.0}
SETTINGS = """
[model]
lookback_months = 12
horizon_months = 3
runout_months = 0
[scoring]
capacity = 100
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory, model_workspace) -> Path:
    """The plan, ingested, with the session's registry (real LightGBM models, one per list) to score its months."""
    ws = tmp_path_factory.mktemp("evaluation")
    generate_plan(ws, PlanSpec(members=10_000, months=35, end=END, seed=4, programme_effects=PLANTED))
    (ws / "riskstrat.toml").write_text(SETTINGS, encoding="utf-8")
    ingest_workspace(ws, settings=load_settings(ws))
    shutil.copytree(model_workspace / "models", ws / "models")
    return ws


@pytest.fixture(scope="module")
def evaluations(plan) -> dict:
    """Each programme evaluated once, and the bytes of the folder it published."""
    settings = load_settings(plan)
    out = {}
    for program in PLANTED:
        result = evaluate_programme(plan, program, FIRST, LAST, settings)
        out[program] = (result, {name: (result.folder / name).read_bytes() for name in FILES})
    return out


@pytest.fixture(scope="module")
def truth(plan) -> dict:
    return json.loads((plan / "truth" / "programme_effects.json").read_text(encoding="utf-8"))


def _row(result, outcome: str, months: int) -> pd.Series:
    effects = result.effects
    return effects[(effects["outcome"] == outcome) & (effects["months_after"] == months)].iloc[0]


def test_matching_balances_every_covariate(evaluations):
    for program, (result, _) in evaluations.items():
        balance = result.balance
        assert result.counts["matched"] >= 30, program
        assert balance["smd_before"].abs().max() > 0.2, f"{program}: enrolled children were not picked at high risk"
        worst = balance.loc[balance["smd_after"].abs().idxmax()]
        assert abs(worst["smd_after"]) < 0.1, f"{program}: {worst['covariate']} unbalanced ({worst['smd_after']:.3f})"
        read_back = pd.read_csv(result.folder / "balance.csv")
        assert read_back["smd_after"].abs().max() < 0.1


def test_the_planted_effect_lies_in_the_interval_and_no_effect_in_the_null_programmes(evaluations, truth):
    for program, (result, _) in evaluations.items():
        planted = -100 * truth["programmes"][program]["reduction"]
        for months in (6, 12):
            ed = _row(result, "ED visits", months)
            assert ed["low_percent"] <= planted <= ed["high_percent"], (program, months, ed.to_dict())
            # a few admissions per thousand child-months: too few here to estimate, and said so, not
            # printed as a number (the 300k bench estimates them)
            admissions = _row(result, "Acute admissions", months)
            assert pd.isna(admissions[["change_percent", "low_percent", "high_percent"]]).all(), (program, months)
    # the planted programme's ED visits fall against its comparisons; the null one's do not fall as far
    st, cares = evaluations["stronger_together"][0], evaluations["cares"][0]
    assert _row(st, "ED visits", 12)["change_percent"] < _row(cares, "ED visits", 12)["change_percent"]


def test_the_naive_before_after_claims_a_reduction_the_matched_comparison_does_not(evaluations):
    result, files = evaluations["cares"]  # no effect planted
    ed = _row(result, "ED visits", 12)
    assert ed["naive_change_percent"] < -10, "children picked after a crisis should look better afterwards anyway"
    assert ed["naive_change_percent"] < ed["change_percent"]
    assert ed["low_percent"] <= 0 <= ed["high_percent"]
    report = files["report.html"].decode()
    assert "naive before/after" in report and "change against matched comparisons" in report
    assert "not estimable (too few events)" in report
    assert f"{abs(ed['naive_change_percent']):.0f}% fewer" in report


def test_the_folder_holds_the_table_the_cohort_and_a_report_without_member_data(evaluations, plan):
    result, files = evaluations["stronger_together"]
    assert result.folder == evaluation_dir(plan, "stronger_together", FIRST, LAST)
    assert sorted(p.name for p in result.folder.iterdir()) == sorted(FILES)
    effects = pd.read_csv(result.folder / "effects.csv")
    assert set(effects["outcome"]) == {"Acute admissions", "ED visits", "Behavioural-health crises", "Paid PMPM"}
    assert sorted(effects["months_after"].unique()) == [6, 12]
    cohort = pd.read_parquet(result.folder / "cohort.parquet")
    enrolled = cohort[cohort["role"] == "enrolled"]
    assert len(enrolled) == result.counts["matched"] == effects["enrolled_children"].iloc[0]
    assert enrolled["index_month"].between(FIRST, LAST).all()
    # every comparison shares its enrolled child's index month
    months = cohort.groupby("group")["index_month"].nunique()
    assert (months == 1).all()
    # the enrolled children are those the plan's care_management says first enrolled in the programme that month
    con = connect(plan)
    first = con.execute("SELECT person_id, strftime(MIN(status_date), '%Y-%m') AS month FROM care_management "
                        "WHERE program = 'stronger_together' AND status = 'enrolled' GROUP BY person_id").df()
    first = first.set_index("person_id")["month"]
    assert (enrolled["index_month"].to_numpy() == first.reindex(enrolled["person_id"]).to_numpy()).all()
    report = files["report.html"].decode()
    assert "<svg" in report and "Event study" in report and "What this design can and cannot show" in report
    assert not any(pid in report for pid in cohort["person_id"].head(50))
    manifest = json.loads(files["evaluation.json"])
    assert manifest["children"]["matched"] == result.counts["matched"]
    assert all(not s["published"] for s in manifest["scores"])


def test_a_programme_with_fewer_than_30_enrolled_children_is_refused_in_one_line(plan):
    with pytest.raises(EvaluationError, match=rf"^wraparound: \d+ enrolled children from {FIRST} to {LAST} can be "
                                               r"evaluated; an evaluation needs at least 30$"):
        evaluate_programme(plan, "wraparound", FIRST, LAST, load_settings(plan))
    assert not evaluation_dir(plan, "wraparound", FIRST, LAST).exists()
    cli = subprocess.run([str(Path(sys.executable).with_name("riskstrat")), "evaluate", "--workspace", str(plan),
                          "--program", "wraparound", "--from", FIRST, "--to", LAST],
                         capture_output=True, text=True)
    assert cli.returncode == 1
    lines = [line for line in cli.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "needs at least 30" in lines[0], cli.stderr


def test_too_few_matched_children_are_refused_even_when_enough_enrolled(plan, evaluations):
    counts = evaluations["stronger_together"][0].counts
    assert counts["unmatched"] > 0, "the plan has enrolled children without a close comparison"
    settings = load_settings(plan)
    strict = settings.model_copy(update={"evaluation": settings.evaluation.model_copy(
        update={"min_enrolled": counts["matched"] + 1})})
    with pytest.raises(EvaluationError, match=rf"^stronger_together: {counts['matched']} of the {counts['enrolled']} "
                                               r"enrolled children found a comparison within the caliper \(0\.2\); an "
                                               rf"evaluation needs at least {counts['matched'] + 1} matched"):
        evaluate_programme(plan, "stronger_together", FIRST, LAST, strict)


def test_months_without_their_follow_up_and_an_unknown_programme_are_refused_in_one_line(plan):
    with pytest.raises(EvaluationError, match=r"^6 months after 2025-08 need claims through 2026-02; "):
        evaluate_programme(plan, "stronger_together", "2025-06", "2025-08", load_settings(plan))
    with pytest.raises(EvaluationError, match=r"^stronger-together: no enrolment names this programme \(care_management "
                                               r"and the outreach log name: cares, .*stronger_together"):
        evaluate_programme(plan, "stronger-together", FIRST, LAST, load_settings(plan))


def test_a_rerun_through_the_prefect_flow_gives_the_same_bytes(plan, evaluations, prefect_harness):
    from riskstrat.flows.evaluate import evaluate

    _, before = evaluations["stronger_together"]
    out = evaluate(workspace=str(plan), program="stronger_together", first=FIRST, last=LAST)
    folder = Path(out["folder"])
    assert {name: (folder / name).read_bytes() for name in FILES} == before
    assert out["children"]["matched"] >= 30


def test_paid_pmpm_is_given_in_dollars_when_a_share_cannot_say_it():
    from riskstrat.evaluation.report import effect_words

    row = {"model": "linear", "change_percent": 293.0, "low_percent": -229.0, "high_percent": 815.0,
           "coefficient": 120.0, "std_error": 90.0, "naive_change_percent": -12.0, "naive_low_percent": -30.0,
           "naive_high_percent": 6.0, "naive_coefficient": -20.0, "naive_std_error": 15.0}
    assert effect_words(row) == ("$120 higher per child-month (95% CI about $56 lower to $296 higher; "
                                 "too uncertain to give as a share)")
    assert effect_words(row, naive=True) == "12% lower (95% CI 30% lower to 6% higher)"
    counts = {**row, "model": "Poisson"}
    assert effect_words(counts, naive=True) == "12% fewer (95% CI 30% fewer to 6% more)"
