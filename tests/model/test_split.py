import pandas as pd
import pytest

from riskstrat.config import ModelSettings
from riskstrat.model.matrix import TrainError
from riskstrat.model.train import SIDES, collect_training_frame, split_frame


def test_no_future_rows_and_sides_in_time_order(plan, design, settings):
    frame, _ = plan
    splits = split_frame(frame, design, settings.model)
    for side in ("train", "calibration", "test"):
        months = set(splits.side(side)["as_of"])
        assert months == set(getattr(design, f"{side}_months"))
    # Tuning children are followed through the training months too, never past the tuning months.
    assert set(splits.tune["as_of"]) == set(design.train_months + design.tune_months)
    assert splits.train["as_of"].max() < min(design.tune_months)
    assert splits.tune["as_of"].max() < splits.calibration["as_of"].min()
    assert splits.calibration["as_of"].max() < splits.test["as_of"].min()
    assert splits.test["as_of"].max() <= design.last_matured_month


def test_no_child_on_both_sides_of_any_split(plan, design, settings):
    frame, _ = plan
    splits = split_frame(frame, design, settings.model)
    children = {side: set(splits.side(side)["person_id"]) for side in SIDES}
    for i, a in enumerate(SIDES):
        for b in SIDES[i + 1:]:
            assert not children[a] & children[b], f"{a} and {b} share children"
    # Shares roughly as configured, so no side is starved.
    total = sum(len(c) for c in children.values())
    assert 0.2 < len(children["test"]) / total < 0.3


def test_every_row_is_accounted_for_in_the_attrition(plan, design, settings):
    frame, _ = plan
    unmatured = frame[frame["as_of"] == "2025-05"].assign(as_of="2025-08")
    splits = split_frame(pd.concat([frame, unmatured]), design, settings.model)
    att = splits.attrition.set_index("step")
    late = (frame["as_of"] > design.last_matured_month).sum() + len(unmatured)
    assert att.loc["dropped: outcome not matured", "rows"] == late
    kept = sum(len(splits.side(s)) for s in SIDES)
    dropped = att.loc[[s for s in att.index if s.startswith("dropped") or "held for another side" in s], "rows"].sum()
    assert kept + dropped == att.loc["rows in the training frame", "rows"]
    assert "2025-08" not in set(splits.test["as_of"])


def test_same_child_same_side_in_every_retrain(plan, design, settings):
    frame, _ = plan
    a = split_frame(frame, design, settings.model)
    b = split_frame(frame.sample(frac=1, random_state=1), design, settings.model)
    assert set(a.test["person_id"]) == set(b.test["person_id"])


def test_a_side_without_events_is_refused(plan, design):
    frame, _ = plan
    quiet = frame.assign(label=frame["label"].where(~frame["as_of"].isin(design.test_months), 0))
    with pytest.raises(TrainError, match="test months .* no events"):
        split_frame(quiet, design, ModelSettings())


def test_missing_label_column_is_named(plan, design, settings):
    frame, _ = plan
    with pytest.raises(TrainError, match="no 'label' column"):
        split_frame(frame.drop(columns="label"), design, settings.model)


def test_collecting_month_by_month_keeps_exactly_the_rows_the_split_uses(plan, design, settings):
    frame, _ = plan
    by_month = {m: g for m, g in frame.groupby("as_of")}
    built = []

    def build(month):
        built.append(month)
        return by_month[month], pd.DataFrame([{"as_of": month, "step": "children in the population", "children": len(by_month[month])}])

    stacked, attrition = collect_training_frame(build, design, settings.model)
    assert built == list(design.all_months)  # nothing later than the design is ever built
    direct = split_frame(frame, design, settings.model)
    collected = split_frame(stacked, design, settings.model)
    for side in SIDES:
        a = direct.side(side).sort_values(["as_of", "person_id"]).reset_index(drop=True)
        b = collected.side(side).sort_values(["as_of", "person_id"]).reset_index(drop=True)
        assert a["person_id"].tolist() == b["person_id"].tolist()
        assert a["label"].tolist() == b["label"].tolist()
    assert stacked["ed_visits_12m"].dtype == "float32"
    held = attrition[attrition["step"].str.contains("held for another side")]
    assert held["rows"].sum() + len(stacked) == sum(len(by_month[m]) for m in design.all_months)
    built_rows = attrition.set_index("step").loc["built: children in the population", "rows"]
    assert built_rows == sum(len(by_month[m]) for m in design.all_months)
