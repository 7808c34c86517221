"""The month's audit on small hand-built frames: PSI bands from settings, the drift trigger, display tables."""

import numpy as np
import pandas as pd
import pytest

from riskstrat.audit import drift as D
from riskstrat.audit import fairness as F
from riskstrat.audit.month import drift_decision
from riskstrat.audit.training import held_out_fairness
from riskstrat.config import AuditSettings, Settings


def test_psi_bands_come_from_the_settings():
    bands = D.psi_bands(0.05, 0.5)
    assert D.psi_status(0.07, bands) == ("moderate", True)
    assert D.psi_status(0.3, bands) == ("moderate", True)
    assert D.psi_status(0.5, bands) == ("major", True)
    assert D.psi_status(0.07) == ("stable", False)  # the default bands
    with pytest.raises(ValueError, match="psi_alert"):
        AuditSettings(psi_warn=0.3, psi_alert=0.2)
    with pytest.raises(ValueError):
        D.psi_bands(0.25, 0.1)
    ref = pd.DataFrame({"x": np.arange(1000) % 10})
    cur = pd.DataFrame({"x": (np.arange(1000) % 10) + (np.arange(1000) % 7 == 0)})
    value = D.psi_table(ref, cur)["psi"].iloc[0]
    loose = D.psi_table(ref, cur, bands=D.psi_bands(value + 0.01, value + 0.02))
    assert not loose["warning"].iloc[0]


def _psi_rows(score: float, features: list[float], alert_at: float = 0.25, score_alert_at: float = 0.25) -> pd.DataFrame:
    rows = [{"column": "score", "psi": score, "alert_at": score_alert_at}]
    rows += [{"column": f"f{i}", "psi": v, "alert_at": alert_at} for i, v in enumerate(features)]
    return pd.DataFrame(rows)


def test_the_drift_trigger_reads_the_score_or_the_share_of_shifted_features():
    settings = Settings()  # score 0.25; a quarter of the features at or above 0.25
    assert drift_decision(_psi_rows(0.30, [0.01] * 8), settings)[0]
    assert drift_decision(_psi_rows(0.02, [0.3, 0.3] + [0.01] * 6), settings)[0]
    due, reason = drift_decision(_psi_rows(0.02, [0.3] + [0.01] * 7), settings)
    assert not due
    assert "score PSI 0.020" in reason and "1 of 8 features" in reason
    # Features and a score that move that much between training months anyway: their own levels decide.
    assert not drift_decision(_psi_rows(0.30, [0.3, 0.3] + [0.01] * 6, alert_at=0.5, score_alert_at=0.5), settings)[0]
    due, reason = drift_decision(_psi_rows(0.55, [0.01] * 8, score_alert_at=0.5), settings)
    assert due and "(retrain at 0.5)" in reason
    off = Settings(audit=AuditSettings(retrain_on_drift=False))
    assert not drift_decision(_psi_rows(0.9, [0.9] * 8), off)[0]


def _month(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "score": rng.uniform(0, 0.4, n),
        "race": rng.choice(["black", "white", "asian"], n, p=[0.45, 0.45, 0.1]),
        "ethnicity": "not hispanic", "sex": rng.choice(["female", "male"], n), "age_band": "6-11",
        "aid_category": np.where(np.arange(n) < 120, "foster_care", "tanf"), "region": "ZIP3 303",
    })
    frame["flagged"] = ((frame["aid_category"] == "foster_care") & (np.arange(n) % 2 == 0)) | (np.arange(n) % 20 == 0)
    frame["flagged"] = frame["flagged"].astype(int)
    return frame


def test_a_month_without_outcomes_reads_as_shares_and_flag_rates():
    table = F.fairness_table(_month(), outcome=None)
    gaps = F.largest_gaps(table)
    assert gaps[0].startswith("Flag rate for foster care children (aid category)")
    assert not any("TPR" in g or "PPV" in g or "predicts" in g for g in gaps)
    shown = F.display_table(table, outcome=False)
    assert list(shown.columns) == ["attribute", "group", "children", "share", "flag rate", "mean predicted"]
    row = shown[(shown["attribute"] == "aid category") & (shown["group"] == "foster_care")].iloc[0]
    assert row["share"].startswith("20.0% (") and row["flag rate"].startswith("50.0% (")  # the even 60 of 120
    assert "(too small)" in shown.loc[shown["group"].str.startswith("asian"), "group"].iloc[0]
    svg = F.fairness_plot_svg(table, ("flag_rate",))
    assert svg.startswith("<svg") and svg == F.fairness_plot_svg(table, ("flag_rate",))  # same bytes each time


def test_fairness_without_groups_says_why():
    rows = pd.DataFrame({"person_id": ["a", "b"], "as_of": ["2025-01", "2025-01"]})
    out = held_out_fairness(rows, np.array([0.1, 0.2]), np.array([0, 1]), None, 1, note="no lake")
    assert out == {"months": ["2025-01"], "capacity_per_month": 1, "label": "", "note": "no lake", "available": False}


def test_last_months_run_json_missing_published_or_damaged(tmp_path):
    from riskstrat.audit.month import previous_audit

    assert previous_audit(tmp_path, "2025-11") == ({}, None)  # never published: nothing to say
    run = tmp_path / "outputs" / "2025-10" / "run.json"
    run.parent.mkdir(parents=True)
    run.write_text('{"audit": {"profile": {"score": {}}}}')
    assert previous_audit(tmp_path, "2025-11") == ({"profile": {"score": {}}}, None)
    damaged = (b'{"audit": {"prof', b"[]", b"\xff\xfe{}",  # cut short, not an object, not UTF-8
               b'{"audit": "x"}', b'{"audit": {"profile": []}}', b'{"audit": {"monitoring": {}}}')  # not its shape
    for damage in damaged:
        run.write_bytes(damage)
        audit, why = previous_audit(tmp_path, "2025-11")
        assert audit == {} and why.startswith("outputs/2025-10/run.json cannot be read"), damage
