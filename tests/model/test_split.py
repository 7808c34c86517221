"""Cross-fitting: every judged score comes from a fit that never saw the child nor the month."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from riskstrat.audit import performance as perf
from riskstrat.config import ModelSettings, Settings
from riskstrat.core.children import child_hash
from riskstrat.features import Feature
from riskstrat.model.design import SPLIT_SALT, StudyDesign, folds_of
from riskstrat.model.matrix import TrainError, model_features
from riskstrat.model.train import (
    StackedRows,
    cross_fit,
    fit_and_register,
    judging_rows,
    lightgbm_params,
    summed_steps,
)

MEMORY = Feature("child_code", "demographics", "population", "value", column="child_code",
                 description="A number fixed per child and unrelated to risk in general.", reason="code {value}",
                 kind="count", sources=("eligibility",))


def memorisable(children: int = 3000, months: list[str] | None = None, seed: int = 5) -> pd.DataFrame:
    """Each child's label is the same every month and a coin toss; ``child_code`` names the child.

    A fit that saw the child learns its label from the code; a fit that did not can only guess, so
    out-of-fold scores must rank no better than chance."""
    rng = np.random.default_rng(seed)
    months = months or [f"2024-{m:02d}" for m in range(1, 9)]
    code = rng.permutation(children).astype(float)
    label = (rng.random(children) < 0.3).astype(int)
    ids = np.array([f"C{i:05d}" for i in range(children)])
    # The rules baseline reads prior use and behavioural-health features; here they carry nothing.
    rules = {"ed_visits_12m": 0.0, "ip_admits_12m": 0.0, "bh_condition_groups_12m": 0.0}
    return pd.concat([pd.DataFrame({"person_id": ids, "as_of": m, "child_code": code, **rules, "label": label})
                      for m in months], ignore_index=True)


def test_out_of_fold_scores_never_come_from_a_fit_that_saw_the_child():
    settings = ModelSettings(num_leaves=63, min_child_samples=5, max_trees=200, runout_months=0, horizon_months=1)
    rows = memorisable(children=600)
    design = StudyDesign.from_settings("2024-09", settings, first_month="2024-01")
    specs = model_features([MEMORY])
    y = rows["label"].to_numpy()
    # A fit that saw every child learns their labels from the code: a leak would show.
    x = rows[["child_code"]].to_numpy(np.float32)
    seen = lgb.train(lightgbm_params(settings, specs), lgb.Dataset(x, label=y), num_boost_round=200)
    assert perf.auroc(y, seen.predict(x)) > 0.8
    fitted = cross_fit(StackedRows.from_frame(rows, specs, ["label"]), np.arange(len(rows)), y, design, settings)
    assert perf.auroc(y, fitted.oof_raw) < 0.6


def _folds(ids: pd.Series, folds: int) -> np.ndarray:
    return folds_of(child_hash(ids, SPLIT_SALT), folds)


def test_folds_are_fixed_by_child_and_balanced():
    ids = pd.Series([f"P{i:06d}" for i in range(30_000)])
    folds = _folds(ids, 3)
    assert np.array_equal(folds, _folds(ids.sample(frac=1, random_state=1).sort_index(), 3))
    assert np.bincount(folds).min() > 9_500
    one_child = pd.Series(["P000007"] * 5)
    assert len(set(_folds(one_child, 3))) == 1


def test_every_row_is_accounted_for_in_the_attrition(tmp_path):
    settings = ModelSettings(runout_months=0, horizon_months=1, max_trees=30, min_child_samples=20)
    full = Settings(model=settings)
    rows = memorisable(children=2000, months=[f"2024-{m:02d}" for m in range(1, 11)])
    rows["label"] = rows["label"].astype(float)
    rows.loc[rows.index[:7], "label"] = np.nan
    design = StudyDesign.from_settings("2024-09", settings, first_month="2024-01")
    result = fit_and_register(tmp_path, rows, [MEMORY], design, full)
    att = result.attrition.set_index("step")
    assert att.loc["dropped: month outside the design", "rows"] == 2 * 2000  # 2024-09 and 2024-10 have not matured
    assert att.loc["dropped: no label (follow-up incomplete)", "rows"] == 7
    assert att.loc["registered model: learned from", "rows"] == len(rows) - 4000 - 7
    assert result.metrics["model"]["n"] == 2 * 2000  # every child of both test months
    assert result.metrics["cross_fit"]["folds"] == 3


def test_a_plan_too_small_for_its_folds_is_refused_by_name():
    settings = ModelSettings(runout_months=0, horizon_months=1, max_trees=30)
    rows = memorisable(children=40)
    rows["label"] = 0
    design = StudyDesign.from_settings("2024-09", settings, first_month="2024-01")
    with pytest.raises(TrainError, match="fold 1 of 3: no events"):
        cross_fit(StackedRows.from_frame(rows, model_features([MEMORY]), ["label"]), np.arange(len(rows)),
                  rows["label"].to_numpy(float), design, settings)


def test_builders_steps_are_summed_over_months_per_outcome():
    steps = pd.DataFrame([
        {"as_of": "2024-01", "outcome": None, "step": "enrolled", "children": 10},
        {"as_of": "2024-02", "outcome": None, "step": "enrolled", "children": 12},
        {"as_of": "2024-01", "outcome": "bh_crisis", "step": "followed", "children": 9},
        {"as_of": "2024-02", "outcome": "bh_crisis", "step": "followed", "children": 11},
        {"as_of": "2024-02", "outcome": "acute_event", "step": "followed", "children": 7},
    ])
    summed = summed_steps(steps).set_index(["outcome", "step"], drop=False)
    assert summed.loc[(None, "built: enrolled"), "rows"].item() == 22
    assert summed.loc[("bh_crisis", "built: followed"), "rows"].item() == 20
    assert summed.loc[("acute_event", "built: followed"), "note"].endswith("over 1 as-of months")

def test_stacked_rows_hold_the_features_once_and_bin_them_once():
    rows = memorisable(children=200)
    specs = model_features([MEMORY])
    stacked = StackedRows.from_frame(rows.assign(label=rows["label"].astype(float)), specs, ["label"])
    # The frame's feature columns are the matrix LightGBM reads, not a second copy of it.
    assert np.shares_memory(stacked.frame["child_code"].to_numpy(), stacked.x)
    # The rules' columns, which this model does not read, come along by name.
    assert {"ed_visits_12m", "ip_admits_12m"} <= set(stacked.frame.columns)
    settings = ModelSettings()
    assert stacked.dataset(settings) is stacked.dataset(settings)


def rare_outcome(children: int, months: int = 8, seed: int = 11) -> pd.DataFrame:
    """A rare outcome (about 8%) whose risk rises with ``child_code``, drawn afresh each month."""
    rng = np.random.default_rng(seed)
    frames = []
    for m in range(1, months + 1):
        x = rng.random(children)
        frames.append(pd.DataFrame({"person_id": [f"C{i:05d}" for i in range(children)], "as_of": f"2024-{m:02d}",
                                    "child_code": x, "ed_visits_12m": 0.0, "ip_admits_12m": 0.0,
                                    "bh_condition_groups_12m": 0.0,
                                    "label": (rng.random(children) < 0.02 + 0.12 * x).astype(float)}))
    return pd.concat(frames, ignore_index=True)


def test_a_judging_fit_past_its_row_budget_keeps_every_event_and_weights_the_rest():
    y = np.r_[np.ones(2_000), np.zeros(48_000)]
    positions = np.arange(len(y))
    small = judging_rows(positions[:9_000], y, ModelSettings(judging_max_rows=10_000))
    assert small.weight is None and len(small.positions) == 9_000
    capped = judging_rows(positions, y, ModelSettings(judging_max_rows=20_000))
    kept_events = y[capped.positions] == 1
    assert kept_events.sum() == 2_000
    assert capped.kept_share == pytest.approx(18_000 / 48_000)
    assert abs(len(capped.positions) - 20_000) < 600
    assert np.all(np.diff(capped.positions) > 0)
    assert np.allclose(capped.weight[kept_events], 1.0) and np.allclose(capped.weight[~kept_events], 48_000 / 18_000)


def test_folds_past_the_budget_stay_calibrated_and_the_registered_model_learns_from_every_row(tmp_path):
    rows = rare_outcome(children=5_000)
    settings = ModelSettings(runout_months=0, horizon_months=1, max_trees=60, min_child_samples=50,
                             judging_max_rows=10_000, stopping_max_rows=4_000, bagging_fraction=1.0)
    design = StudyDesign.from_settings("2024-09", settings, first_month="2024-01")
    result = fit_and_register(tmp_path, rows, [MEMORY], design, Settings(model=settings))
    att = result.attrition.set_index("step")
    fold = att.loc["fold 1: learned from"]
    learned, stopped = fold["note"].split("; stopped early")
    assert fold["rows"] < 11_000 and "every event and" in learned
    # early stopping too scored a weighted sample of the fold's own rows, not all of them
    assert "every event and" in stopped and "early stopping scores at most 4,000" in stopped
    assert all(0 < share < 1 for share in result.metrics["cross_fit"]["fold_stopping_non_events_kept"])
    # The registered model's first tree split every row, unsampled (no bagging here).
    registered = lgb.Booster(model_file=str(result.model_dir / "model.txt"))
    assert registered.dump_model()["tree_info"][0]["tree_structure"]["internal_count"] == len(rows)
    card = (result.model_dir / "card.md").read_text()
    assert "each fold's fit learned from every event and" in card
    assert "Each fold's early stopping scored about 4,000" in card
    # The learning curve's down-sampled points are not read as a doubling of children.
    assert any(p["non_events_kept"] < 1 for p in result.metrics["learning_curve"])
    assert "shown but not compared" in card
    # A share with more child-months than a judging fit learns from is not refitted (the
    # fold's own fit is the one capped point).
    curve = result.metrics["learning_curve"]
    assert [p["share"] for p in curve] == [0.125, 0.25, 0.5, 1.0]
    assert [p["non_events_kept"] < 1 for p in curve] == [False, False, False, True]
    assert max(p["child_months"] for p in curve if p["share"] < 1) <= settings.judging_max_rows
    kept = result.metrics["cross_fit"]["fold_non_events_kept"]
    assert all(0.2 < share < 0.6 for share in kept)
    # Weighted, the fold fits' probabilities match the event rate; unweighted, their odds would be
    # about 1 / share times too high. (Asked for a share of 0.9, past the cap, the curve skips it.)
    wider = settings.model_copy(update={"learning_curve_shares": (0.25, 0.9)})
    fitted = cross_fit(StackedRows.from_frame(rows, model_features([MEMORY]), ["label"]), np.arange(len(rows)),
                       rows["label"].to_numpy(float), design, wider)
    raw_probability = 1 / (1 + np.exp(-fitted.oof_raw))
    assert abs(raw_probability.mean() - rows["label"].mean()) < 0.01
    assert sorted(fitted.curve) == [0.25, 1.0]

