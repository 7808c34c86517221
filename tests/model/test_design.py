import pytest

from riskstrat.config import ModelSettings
from riskstrat.core.months import MonthError, add_months, months_between
from riskstrat.model.design import DesignError, StudyDesign


def test_months_are_laid_back_from_the_as_of_month_and_all_matured():
    d = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=0))
    assert d.test_months == ("2025-04", "2025-05")
    assert d.calibration_months == ("2025-02", "2025-03")
    assert d.tune_months == ("2025-01",)
    assert d.train_months == tuple(months_between("2024-01", "2024-12"))
    assert d.last_matured_month == "2025-05"
    assert max(d.all_months) <= d.last_matured_month


def test_run_out_pushes_every_side_back():
    d = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=3))
    assert d.test_months[-1] == "2025-02" and d.last_matured_month == "2025-02"
    assert ModelSettings().runout_months == 3  # the claims lag the labels stage waits for


def test_short_history_trims_training_months_then_refuses():
    d = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=0), first_month="2024-09")
    assert d.train_months == ("2024-09", "2024-10", "2024-11", "2024-12")
    with pytest.raises(DesignError, match="train_months: .* only 1 matured training months"):
        StudyDesign.from_settings("2025-11", ModelSettings(runout_months=0), first_month="2024-12")


def test_design_is_checked_on_creation():
    good = StudyDesign.from_settings("2025-11", ModelSettings(runout_months=0))
    fields = good.to_dict()
    with pytest.raises(DesignError, match="calibration_months: 2025-01 is not after"):
        StudyDesign.from_dict({**fields, "calibration_months": ["2025-01", "2025-03"]})
    with pytest.raises(DesignError, match="test_months: 2025-06 has not matured"):
        StudyDesign.from_dict({**fields, "test_months": ["2025-04", "2025-06"]})
    with pytest.raises(DesignError, match="outcome"):
        StudyDesign.from_dict({**fields, "outcome": "cost"})
    with pytest.raises(MonthError, match="as_of"):
        StudyDesign.from_dict({**fields, "as_of": "2025-13"})


def test_round_trip_and_month_arithmetic():
    d = StudyDesign.from_settings("2025-11", ModelSettings())
    assert StudyDesign.from_dict(d.to_dict()) == d
    assert add_months("2025-01", -1) == "2024-12" and add_months("2024-12", 13) == "2026-01"
    assert "acute_event" in d.label_definition and "6 months" in d.label_definition
