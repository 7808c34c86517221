import pytest

from riskstrat.config import ModelSettings
from riskstrat.core.months import MonthError, add_months, months_between
from riskstrat.model.design import DesignError, StudyDesign


def test_every_matured_month_is_used_and_the_latest_are_tested():
    d = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=0), first_month="2023-06")
    assert d.last_matured_month == "2025-05"
    assert d.test_months == ("2025-04", "2025-05")
    assert d.train_months == tuple(months_between("2023-06", "2025-03"))
    assert d.fit_months == tuple(months_between("2023-06", "2025-05"))
    assert d.note == ""


def test_run_out_pushes_every_month_back():
    d = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=3))
    assert d.test_months[-1] == "2025-02" and d.last_matured_month == "2025-02"
    assert ModelSettings().runout_months == 3  # the claims lag the labels stage waits for


def test_train_months_caps_how_far_back_it_reaches():
    d = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=0, train_months=6), first_month="2020-01")
    assert d.fit_months == tuple(months_between("2024-12", "2025-05"))


def test_two_years_of_history_trains_on_fewer_test_months():
    # 24 monthly deliveries 2023-12..2025-11: a full 12-month look-back from 2024-11, outcomes
    # (6 months + 3 of run-out) matured through 2025-02: four months, three kept to learn from.
    d = StudyDesign.from_settings("2025-11", ModelSettings(), first_month="2024-11")
    assert d.fit_months == ("2024-11", "2024-12", "2025-01", "2025-02")
    assert d.test_months == ("2025-02",) and len(d.train_months) == 3
    assert "1 test month(s) instead of 2" in d.note


def test_too_short_a_history_is_refused_naming_what_is_missing():
    with pytest.raises(DesignError, match="train_months: .* only 3 matured as-of months .* at least 4 are needed"):
        StudyDesign.from_settings("2025-11", ModelSettings(), first_month="2024-12")


def test_design_is_checked_on_creation():
    good = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=0), first_month="2024-01")
    fields = good.to_dict()
    with pytest.raises(DesignError, match="test_months: 2025-03 is not after the last of train_months"):
        StudyDesign.from_dict({**fields, "test_months": ["2025-03", "2025-05"]})
    with pytest.raises(DesignError, match="test_months: 2025-06 has not matured"):
        StudyDesign.from_dict({**fields, "test_months": ["2025-04", "2025-06"]})
    with pytest.raises(DesignError, match="outcome"):
        StudyDesign.from_dict({**fields, "outcome": "cost"})
    with pytest.raises(DesignError, match="folds"):
        StudyDesign.from_dict({**fields, "folds": 1})
    with pytest.raises(MonthError, match="as_of"):
        StudyDesign.from_dict({**fields, "as_of": "2025-13"})


def test_round_trip_and_month_arithmetic():
    d = StudyDesign.from_settings("2025-11", ModelSettings(), spec="stronger_together")
    assert StudyDesign.from_dict(d.to_dict()) == d and d.spec == "stronger_together"
    assert add_months("2025-01", -1) == "2024-12" and add_months("2024-12", 13) == "2026-01"
    assert "acute_event" in d.label_definition and "6 months" in d.label_definition
