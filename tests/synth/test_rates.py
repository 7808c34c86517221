"""Published rates for Medicaid children (sources in docs/synthetic_plan.md)."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from riskstrat.features import codesets


def _truth(plan, name):
    return pq.read_table(plan / "truth" / f"{name}.parquet").to_pandas()


def test_ed_visits_per_100_child_years(plan):
    risk, ev = _truth(plan, "risk"), _truth(plan, "events")
    enrolled = risk[risk["enrolled"]]
    ev = ev[ev["kind"].isin(["ed_bh", "ed_other"]) & ev["enrolled"]].assign(
        month=lambda d: pd.to_datetime(d["date"]).dt.strftime("%Y-%m"))
    visits = ev.merge(enrolled[["person_id", "month"]], on=["person_id", "month"])
    rate = 100 * len(visits) / (len(enrolled) / 12)
    assert 40 <= rate <= 60, rate


def test_psychiatric_admissions_under_one_percent_of_children_a_year(sf, plan):
    risk, ev = _truth(plan, "risk"), _truth(plan, "events")
    last_year = sf.MAIN.delivery_labels()[-12:]
    kids = risk[risk["enrolled"] & risk["month"].isin(last_year)]["person_id"].unique()
    ev = ev[(ev["kind"] == "ip_psych") & (pd.to_datetime(ev["date"]).dt.strftime("%Y-%m").isin(last_year))]
    share = ev[ev["person_id"].isin(kids)]["person_id"].nunique() / len(kids)
    assert 0.0005 < share < 0.01, share


def test_pmca_shares(plan):
    shares = _truth(plan, "persons")["pmca_class"].value_counts(normalize=True)
    assert 0.05 <= shares["complex_chronic"] <= 0.08
    assert 0.17 <= shares["non_complex_chronic"] <= 0.23


def test_mental_health_diagnosis_in_15_to_25_percent_of_children_a_year(sf, plan):
    """Measured as a plan analyst would: children enrolled in the last year with any
    behavioural-health diagnosis on a claim for a service in that year."""
    last_year = sf.MAIN.delivery_labels()[-12:]
    first_day = last_year[0] + "-01"
    risk = _truth(plan, "risk")
    kids = set(risk[risk["enrolled"] & risk["month"].isin(last_year)]["person_id"])
    bh_kids = set()
    for folder in sorted((plan / "landing").iterdir()):
        _, rows, _ = sf.read_rows(sf.find_file(folder, "medical_claim"))
        for r in rows:
            if r["claim_start_date"] < first_day or r["person_id"] not in kids:
                continue
            for i in range(1, 5):
                v = r[f"diagnosis_code_{i}"]
                if v and codesets.groups_for_code("icd10cm_behavioral_health", codesets.normalize_icd(v)):
                    bh_kids.add(r["person_id"])
    share = len(bh_kids) / len(kids)
    assert 0.15 <= share <= 0.25, share
