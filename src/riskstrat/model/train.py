"""Training: one model per specification, learning from every matured child-month, judged out of sample.

The recipe (:func:`fit_and_register`, called by :func:`train_models` once the features stage has
built the frame):

1. :func:`cross_fit` — children are split into folds by a fixed hash of ``person_id``
   (:func:`~riskstrat.model.design.folds_of`). For each fold, LightGBM learns from the other
   folds' children in the training months (the months before the test window) and stops early on
   its own fold's children in those months, which it never learns from. Each fold's fit scores
   its own children in every month, so every row gets a score from a fit that never saw that
   child (out of fold), and test rows from a fit that saw nothing as late as them and that no
   test row helped to stop. Past ``model.judging_max_rows`` child-months a fold's fit learns from
   every event and a weighted share of the rest (:func:`judging_rows`), so on large plans the
   judged recipe is a slightly lighter one than the registered model's.
2. Calibration out of sample: Platt scaling on the out-of-fold scores of the training months
   judges the test rows; the registered model's calibrator is fitted on the out-of-fold scores of
   every month. A programme's model learns from every child but is calibrated on the children its
   population admits (when they hold enough events), so its probabilities are those of its list.
3. The registered model: LightGBM on every child and every matured month (the test months too),
   with the fold fits' mean tree count. It is the model that scores children; the metrics are the
   fold fits', which is what cross-fitting estimates: the quality of this recipe on this plan.
4. Baselines on the same test rows: the rules, logistic regression (cross-fitted the same way),
   and for a programme's list the general model's ranking; on synthetic plans the oracle
   (:mod:`riskstrat.model.evaluation`). A programme's list is judged among the children its
   population rule admits, as the list ranks them.
5. :mod:`riskstrat.model.registry` — register the challenger, then the promotion gate for its
   specification.

Why the registered model is not re-weighted or oversampled for the rare outcome: both change the
base rate the model learns, so its probabilities would have to be un-distorted afterwards, and
ranking (what the worklist uses) does not gain from it. The binary log-loss on the natural rate,
leaves with at least ``min_child_samples`` children, and early stopping on log-loss keep the rare
class honest. The judging fits' down-sampling on large plans is for time only, and its weights
restore the natural rate.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from riskstrat.audit import performance as perf
from riskstrat.audit.training import first_full_month, model_audit
from riskstrat.config import DEFAULT_SPEC, ModelSettings, Settings
from riskstrat.core.children import child_hash
from riskstrat.core.fingerprint import code_fingerprint, lake_fingerprint
from riskstrat.core.months import check_month, month_of
from riskstrat.core.progress import Progress, tick
from riskstrat.core.workspace import TRUTH
from riskstrat.features import FEATURES, Feature
from riskstrat.features.declarations import catalogue_hash, declarations_hash
from riskstrat.features.rules import Node
from riskstrat.model import labels, registry
from riskstrat.model.baselines import LABEL, RulesBaseline, baseline_positions, fit_logistic
from riskstrat.model.bundle import ModelBundle
from riskstrat.model.calibration import PlattCalibrator
from riskstrat.model.design import SPLIT_SALT, StudyDesign, folds_of
from riskstrat.model.evaluation import evaluate_all, promotion_gate, true_risk
from riskstrat.model.matrix import ModelFeature, TrainError, feature_matrix, model_features, training_array
from riskstrat.model.specs import Specification, load_specs, model_fields

# Independent of the fold hash, so each learning-curve share takes children from every part of the fold.
_CURVE_SALT = "riskstrat-learning-curve-v1"


def lightgbm_params(settings: ModelSettings, specs: list[ModelFeature]) -> dict:
    """LightGBM parameters: shallow, monotone where declared, reproducible to the byte."""
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_child_samples": settings.min_child_samples,
        "lambda_l2": 1.0,
        "feature_fraction": settings.feature_fraction,
        "bagging_fraction": settings.bagging_fraction,
        "bagging_freq": 1 if settings.bagging_fraction < 1 else 0,
        "max_bin": 255,
        "monotone_constraints": [s.direction for s in specs],
        "monotone_constraints_method": "intermediate",
        "seed": settings.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": settings.num_threads,
        "verbosity": -1,
    }


def load_truth(workspace: Path, outcome: str = "acute_event") -> pd.DataFrame | None:
    """The synthetic plan's oracle for ``outcome`` (``truth/risk.parquet``, column ``p_<outcome>``) as
    person_id, month, p_true; None on a real plan or when the plan has no oracle for that outcome."""
    path = Path(workspace) / TRUTH / "risk.parquet"
    column = f"p_{outcome}"
    if not path.exists():
        return None
    if column not in pq.read_schema(path).names:
        return None
    truth = pd.read_parquet(path, columns=["person_id", "month", column]).rename(columns={column: "p_true"})
    truth["person_id"] = truth["person_id"].astype("string")
    truth["month"] = month_of(truth["month"])
    return truth


@dataclass
class StackedRows:
    """The child-months one or more specifications learn from, with the features held once.

    ``x`` is the model's feature matrix (float32, one row per child-month, C order as LightGBM reads
    it without a copy); ``frame`` is person_id, as_of (YYYY-MM) and the features, for everything that
    reads features by name (rules, populations, the logistic baseline, the audit), its feature
    columns a view on ``x``.
    ``outcomes``: one array per outcome column, NaN where its follow-up rule dropped the row.
    The rows are binned for LightGBM once (:meth:`dataset`), and every fit of every specification
    is a subset of those bins: on a 500k-member plan the matrix and its bins are most of the
    memory training needs, so a copy per specification or per fold would not fit in 4 GB.
    """

    frame: pd.DataFrame
    x: np.ndarray
    features: list[ModelFeature]
    outcomes: dict[str, np.ndarray]
    _dataset: lgb.Dataset | None = None
    _hashes: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, features: list[ModelFeature], outcomes: Sequence[str],
                   matrix: np.ndarray | None = None) -> "StackedRows":
        """From a training frame (person_id, as_of, the features, the outcome columns).

        ``matrix``: the frame's features already as the model reads them
        (:class:`~riskstrat.model.labels.TrainingFrame`'s), used as they are, not copied.
        """
        for col in ("person_id", "as_of", *outcomes):
            if col not in frame.columns:
                raise TrainError(f"feature frame: no {col!r} column")
        names = [f.name for f in features]
        if matrix is not None and (matrix.shape != (len(frame), len(names)) or matrix.dtype != np.float32
                                   or not matrix.flags.c_contiguous or frame.columns[2:2 + len(names)].tolist() != names):
            raise TrainError(f"training matrix: {matrix.shape} {matrix.dtype} is not the frame's "
                             f"{len(frame)} rows of its {len(names)} features, float32 in C order")
        x = training_array(frame, features) if matrix is None else matrix
        view = pd.DataFrame(x, columns=names, copy=False)
        # Other columns (a feature a population or the rules read that the model does not) come along.
        for column in frame.columns.difference(["person_id", "as_of", *names, *outcomes], sort=False):
            view[column] = frame[column].to_numpy()
        view.insert(0, "as_of", month_of(frame["as_of"]).to_numpy())
        view.insert(0, "person_id", frame["person_id"].astype("string").to_numpy())
        return cls(frame=view, x=x, features=features,
                   outcomes={o: pd.to_numeric(frame[o]).to_numpy(dtype=float, na_value=np.nan) for o in outcomes})

    def select(self, features: list[ModelFeature]) -> "StackedRows":
        """These rows as a model of only ``features`` reads them (itself when they are all its features, in order).

        The frame is shared: a population rule or the rules baseline may read a feature the model does not.
        """
        if [f.name for f in features] == [f.name for f in self.features]:
            return self
        return StackedRows(frame=self.frame, x=training_array(self.frame, features), features=features,
                           outcomes=self.outcomes, _hashes=self._hashes)

    def child_hashes(self, salt: str) -> np.ndarray:
        """:func:`~riskstrat.core.children.child_hash` of every row's child under ``salt``, worked out
        once for the specifications that share these rows (0.7 s a time on 3.1M child-months)."""
        if salt not in self._hashes:
            self._hashes[salt] = child_hash(self.frame["person_id"], salt)
        return self._hashes[salt]

    def dataset(self, settings: ModelSettings) -> lgb.Dataset:
        """Every row binned once (labels are set per specification before its fits)."""
        if self._dataset is None:
            params = dataset_params(settings)
            # free_raw_data: a subset of a set that keeps its raw rows copies them (x[rows]) for every
            # fold and fit; the rows stay in ``x`` for predicting anyway.
            self._dataset = lgb.Dataset(self.x, label=np.zeros(len(self.x)), feature_name=[f.name for f in self.features],
                                        params=params, free_raw_data=True)
            self._dataset.construct()
        return self._dataset


def dataset_params(settings: ModelSettings) -> dict:
    """How rows are binned: shared by every specification that reads the same rows.

    No pre-filtering of features by ``min_child_samples``: the bins are made once for
    specifications whose leaf sizes may differ.
    """
    return {"max_bin": 255, "feature_pre_filter": False, "seed": settings.seed, "deterministic": True,
            "num_threads": settings.num_threads, "verbosity": -1}


@dataclass(frozen=True)
class JudgingRows:
    """The rows one judging fit learns from, or stops early on (positions among the design's rows,
    ascending), and their weights (None: every row, unweighted). ``kept_share`` is the share of
    non-event rows kept."""

    positions: np.ndarray
    weight: np.ndarray | None
    kept_share: float

    def describe(self, limit: str) -> str:
        """For the attrition's note: how the rows were sampled, if they were (``limit`` names the cap)."""
        if self.weight is None:
            return ""
        return (f"; every event and {self.kept_share:.0%} of the other child-months, weighted "
                f"{1 / self.kept_share:.2f} ({limit})")


def judging_rows(positions: np.ndarray, y: np.ndarray, settings: ModelSettings, cap: int | None = None) -> JudgingRows:
    """What a fit that only judges the model (a fold's, a learning-curve point's) learns from, or
    (``cap`` = ``model.stopping_max_rows``) the rows its early stopping scores.

    Up to ``model.judging_max_rows`` child-months: all of them. Past that, every event and a fixed
    random share of the other child-months, each weighted by the inverse of the share, so the fit's
    probabilities stay unbiased (negative down-sampling, He et al., "Practical lessons from
    predicting clicks on ads at Facebook", 2014). On a 500k-member plan the folds would otherwise
    learn from 1.8M child-months each, three times per list, which the 5-minute retrain cannot
    afford; a learning curve on that plan, fitted before this cap, moved AUROC by 0.0003 from 80k
    to 161k children (bench/RESULTS.md). The registered model is not a judging fit: it learns from
    every child-month. Non-events are kept at least one for one with events, so a fit whose events
    alone pass half the budget learns from twice its events.
    """
    cap = settings.judging_max_rows if cap is None else cap
    if len(positions) <= cap:
        return JudgingRows(positions, None, 1.0)
    events = y[positions] == 1
    n_events = int(events.sum())
    n_other = len(positions) - n_events
    share = min(1.0, max(cap - n_events, n_events) / max(n_other, 1))
    if share >= 1.0:
        return JudgingRows(positions, None, 1.0)
    keep = events | (np.random.default_rng(settings.seed).random(len(positions)) < share)
    return JudgingRows(positions[keep], np.where(events[keep], 1.0, 1.0 / share), share)


@dataclass(frozen=True)
class CurvePoint:
    """One learning-curve fit: children and child-months it learned from, the share of non-event
    child-months kept (:func:`judging_rows`), and its raw scores of the first fold's test rows."""

    children: int
    rows: int
    non_events_kept: float
    raw: np.ndarray


@dataclass
class CrossFit:
    """What :func:`cross_fit` produced: the registered booster and calibrator, and the out-of-fold scores that judge them."""

    booster: lgb.Booster
    calibrator: PlattCalibrator
    judged_calibrator: PlattCalibrator
    oof_raw: np.ndarray  # NaN where nothing reads it: rows neither calibrated on nor in the test months
    fold: np.ndarray  # each row's fold
    fold_trees: list[int]
    non_events_kept: list[float]  # per fold: share of non-event child-months its fit learned from (1.0: all)
    stopping_non_events_kept: list[float]  # per fold: share of its non-event stopping rows early stopping scored
    logistic_prob: np.ndarray  # out of fold, on every row (NaN where the logistic fit was not asked)
    attrition: pd.DataFrame
    #: share of the first fold's training children -> its fit (:func:`learning_curve`).
    curve: dict[float, CurvePoint] = field(default_factory=dict)
    #: whether the calibrators were fitted on the population's rows only (``calibrate_on``)
    calibrated_on_population: bool = False


def cross_fit(stacked: StackedRows, rows: np.ndarray, y: np.ndarray, design: StudyDesign, settings: ModelSettings,
              progress: Progress | None = None, calibrate_on: np.ndarray | None = None) -> CrossFit:
    """Fold fits on the training months, out-of-fold scores for every row, and the fit on everything.

    ``rows``: positions in ``stacked`` of the rows of the design's months that have a label (in
    order); ``y``: their labels (0/1). Every array returned is aligned with ``rows``.
    ``calibrate_on``: the rows whose probabilities must be right (a programme's list: the children
    its population admits, aligned with ``rows``); the calibrators are fitted on those rows' out-of-fold
    scores when they hold :data:`MIN_CALIBRATION_EVENTS` events, else on every row.
    """
    frame = stacked.frame
    # pandas' isin hashes; numpy's sorts, seconds on millions of month strings.
    test = frame["as_of"].isin(design.test_months).to_numpy()[rows]
    ids = frame["person_id"].iloc[rows]
    fold = folds_of(stacked.child_hashes(SPLIT_SALT)[rows], design.folds)
    specs = stacked.features
    params = lightgbm_params(settings, specs)
    everything = stacked.dataset(settings)
    full_label = np.zeros(len(stacked.x))
    full_label[rows] = y
    everything.set_label(full_label)  # the subsets below take their labels from here
    # A programme's model learns from every child, who are mostly at lower risk than the children its
    # rule admits; calibrated on all of them, its probabilities ran high on its own list (observed /
    # expected 0.58 on a CARES test window).
    on = np.ones(len(rows), dtype=bool) if calibrate_on is None else np.asarray(calibrate_on, dtype=bool)
    if not on.all() and min(y[on].sum(), y[on & ~test].sum()) < MIN_CALIBRATION_EVENTS:
        on = np.ones(len(rows), dtype=bool)
    # Out-of-fold scores are read by the calibrators (rows ``on``) and the judged test rows only: a
    # programme's list then scores a few percent of the training months' rows, not all 3.1M child-months
    # of a 500k-member plan. The other rows stay NaN.
    oof_raw = np.full(len(rows), np.nan)
    scored = on | test
    logistic_prob = np.full(len(rows), np.nan)
    trees, kept_shares, stopping_kept, steps, curve = [], [], [], [], {}
    for k in range(design.folds):
        tick(progress, "fitting folds", k, design.folds + 1)
        learn = ~test & (fold != k)
        # Stopping on the fold's own children (in the training months only) uses every child to
        # learn somewhere; a separate tuning share would starve a small plan of events.
        fit_rows, stop_rows = np.flatnonzero(learn), np.flatnonzero(~test & (fold == k))
        for name, idx in (("learn from", fit_rows), ("stop early on", stop_rows)):
            if len(idx) == 0 or y[idx].sum() == 0:
                raise TrainError(f"fold {k + 1} of {design.folds}: no events to {name} in the training months "
                                 f"({design.train_months[0]}..{design.train_months[-1]}); the plan is too small "
                                 f"for {design.folds} folds, or the outcome too rare")
        stopping = judging_rows(stop_rows, y, settings, settings.stopping_max_rows)
        stop_on = _rows_dataset(everything, rows, stopping)  # built once: the learning curve stops on it too
        learned = judging_rows(fit_rows, y, settings)
        booster, best = _judging_fit(params, everything, rows, learned, stop_on, settings)
        trees.append(best)
        kept_shares.append(learned.kept_share)
        own = np.flatnonzero((fold == k) & scored)
        oof_raw[own] = _predict_raw(booster, stacked.x, rows[own], best)
        booster.free_dataset()  # the fold's subsets of the bins go now, not when the garbage collector finds them
        judged = (fold == k) & test
        if k == 0 and judged.any():
            curve = _curve_fits(stacked, rows, y, ids, params, everything, learn, stop_on, judged, settings)
            curve[1.0] = CurvePoint(int(ids.iloc[fit_rows].nunique()), len(learned.positions), learned.kept_share,
                                    oof_raw[judged])
        if judged.any():
            sample = fit_rows[baseline_positions(len(fit_rows), settings)]
            logistic = fit_logistic(frame.iloc[rows[sample]].assign(**{LABEL: y[sample]}), specs, settings)
            logistic_prob[judged] = logistic.predict_proba(feature_matrix(frame.iloc[rows[judged]], specs))[:, 1]
        learned_how = learned.describe(f"a judging fit learns from at most {settings.judging_max_rows:,}")
        stopped_how = stopping.describe(f"early stopping scores at most {settings.stopping_max_rows:,}")
        steps.append({"step": f"fold {k + 1}: learned from", "rows": int(len(learned.positions)),
                      "children": int(ids.iloc[learned.positions].nunique()),
                      "events": int(y[learned.positions].sum()),
                      "note": f"other folds' children, training months{learned_how}; stopped early at {best} trees "
                              f"on the fold's own {len(stop_rows):,} rows of the training months{stopped_how}"})
        stopping_kept.append(stopping.kept_share)
        del stop_on  # not held through the registered model's fit after the last fold
    tick(progress, "fitting the registered model", design.folds, design.folds + 1)
    final_trees = max(1, int(round(float(np.mean(trees)))))
    on_everything = everything if len(rows) == len(stacked.x) else everything.subset(rows)
    booster = lgb.train(params, on_everything, num_boost_round=final_trees)
    booster = lgb.Booster(model_str=booster.model_to_string())
    steps.append({"step": "registered model: learned from", "rows": int(len(rows)),
                  "children": int(ids.nunique()), "events": int(y.sum()),
                  "note": f"every child, every month {design.fit_months[0]}..{design.fit_months[-1]}; "
                          f"{final_trees} trees (the folds' mean)"})
    return CrossFit(
        booster=booster,
        calibrator=PlattCalibrator().fit(oof_raw[on], y[on]),
        judged_calibrator=PlattCalibrator().fit(oof_raw[~test & on], y[~test & on]),
        calibrated_on_population=not on.all(),
        oof_raw=oof_raw, fold=fold, fold_trees=trees, logistic_prob=logistic_prob, attrition=pd.DataFrame(steps),
        curve=curve,
        non_events_kept=kept_shares, stopping_non_events_kept=stopping_kept,
    )


#: A Platt calibrator (two parameters) fitted on fewer events than this would follow their noise.
MIN_CALIBRATION_EVENTS = 20


def _calibrated_on(population: Node | None, fitted: CrossFit, admitted: np.ndarray | None, y: np.ndarray,
                   spec: str) -> str:
    """For the card: whose out-of-fold scores the probabilities were calibrated on."""
    if population is None or admitted.all():
        return "every child"
    if fitted.calibrated_on_population:
        return (f"the {int(admitted.sum()):,} child-months of children the {spec} population admits, "
                f"{int(y[admitted].sum()):,} events: the probabilities are those of the children the list ranks")
    return (f"every child: the {spec} population's child-months held fewer than {MIN_CALIBRATION_EVENTS} events "
            "(in all months, or in the training months)")


def _predict_raw(booster: lgb.Booster, x: np.ndarray, positions: np.ndarray, trees: int,
                 chunk: int = 200_000) -> np.ndarray:
    """Raw scores of the rows of ``x`` at ``positions``, a slice at a time: taking a third of a
    500k-member plan's matrix at once would copy 350 MB to score it."""
    return np.concatenate([booster.predict(x[positions[i:i + chunk]], raw_score=True, num_iteration=trees)
                           for i in range(0, len(positions), chunk)] or [np.empty(0)])


def _rows_dataset(everything: lgb.Dataset, rows: np.ndarray, picked: JudgingRows) -> lgb.Dataset:
    """The binned rows ``picked`` (positions among ``rows``), with their weights if they are a weighted sample."""
    subset = everything.subset(rows[picked.positions])
    if picked.weight is not None:
        # LightGBM sorts a subset's rows; the weights line up only with rows already in order.
        if np.any(np.diff(rows[picked.positions]) <= 0):
            raise ValueError("weighted rows must be in ascending order")
        subset.construct().set_weight(picked.weight)
    return subset


def _judging_fit(params: dict, everything: lgb.Dataset, rows: np.ndarray, learned: JudgingRows,
                 stop_on: lgb.Dataset, settings: ModelSettings) -> tuple[lgb.Booster, int]:
    """A judging fit: LightGBM on ``learned`` (:func:`judging_rows`, positions among ``rows``),
    stopped early on ``stop_on``; returns the booster and its tree count."""
    booster = lgb.train(params, _rows_dataset(everything, rows, learned), num_boost_round=settings.max_trees,
                        valid_sets=[stop_on], valid_names=["tune"],
                        callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)])
    return booster, int(booster.best_iteration or booster.current_iteration())


def _curve_fits(stacked: StackedRows, rows, y, ids, params, everything, learn, stop_on, judged,
                settings: ModelSettings) -> dict:
    """The first fold refitted on a fixed share of its training children (the same hash, so each
    share holds the smaller ones), scoring the same test rows: quality against training children,
    as OHDSI PatientLevelPrediction's learning curve reports it.

    A share whose fit :func:`judging_rows` would down-sample is not refitted: it would learn from as
    many rows as the fold's own, a point the card shows but does not compare (on a 500k-member plan
    the largest share cost a fold fit per list for a point not read).
    """
    out = {}
    share_of_child = stacked.child_hashes(_CURVE_SALT)[rows]
    for share in settings.learning_curve_shares:
        sub = np.flatnonzero(learn & (share_of_child < share))
        if len(sub) == 0 or y[sub].sum() == 0:
            continue
        learned = judging_rows(sub, y, settings)
        if learned.weight is not None:
            continue
        booster, best = _judging_fit(params, everything, rows, learned, stop_on, settings)
        out[float(share)] = CurvePoint(int(ids.iloc[sub].nunique()), len(learned.positions), learned.kept_share,
                                       _predict_raw(booster, stacked.x, rows[judged], best))
        booster.free_dataset()
    return out


def learning_curve(fitted: CrossFit, test_rows_of_first_fold: pd.DataFrame, label: str,
                   truth: pd.DataFrame | None, among: np.ndarray | None = None) -> list[dict]:
    """Per share of training children: children and child-months learned from (with the share of
    non-event child-months kept), test rows and events of the first fold, AUROC and (synthetic
    plans) expected AUROC against the true risk. ``among``: which of those test rows are judged
    (a programme's list: the children its population admits, as its other metrics)."""
    if among is not None:
        test_rows_of_first_fold = test_rows_of_first_fold.loc[among]
    y = test_rows_of_first_fold[label].to_numpy(float)
    p_true = None if truth is None else true_risk(test_rows_of_first_fold, truth)
    p_true = p_true if p_true is not None and not np.isnan(p_true).any() else None
    points = []
    for share in sorted(fitted.curve):
        fit = fitted.curve[share]
        raw = fit.raw if among is None else fit.raw[among]
        point = {"share": share, "children": fit.children, "child_months": fit.rows,
                 "non_events_kept": fit.non_events_kept, "test_rows": int(len(y)), "events": int(y.sum()),
                 "auroc": perf.auroc(y, raw)}
        if p_true is not None:
            point["expected_auroc"] = perf.expected_auroc(p_true, raw)
        points.append(point)
    return points


@dataclass
class TrainResult:
    """What a training run produced: the registered model, its metrics and the promotion decision."""

    model_id: str
    model_dir: Path
    design: StudyDesign
    metrics: dict
    attrition: pd.DataFrame
    promoted: bool
    decision: str
    champion_before: str | None
    synthetic: bool
    best_iteration: int
    test_scores: pd.DataFrame | None = None
    seconds: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """A few lines for the CLI; no member-level data."""
        d, m = self.design, self.metrics
        lines = [
            f"{d.spec}: model {self.model_id}  ({'synthetic plan' if self.synthetic else 'plan data'})",
            f"learned from every matured month {d.fit_months[0]}..{d.fit_months[-1]}; judged by {d.folds}-fold "
            f"cross-fitting on {', '.join(d.test_months)}",
            f"trees {self.best_iteration}; test rows {m['model']['n']:,} with {m['model']['events']:,} events",
        ]
        if d.note:
            lines.append(d.note)
        return lines


def fit_and_register(
    workspace: Path,
    frame: pd.DataFrame | StackedRows,
    declarations: Sequence[Feature],
    design: StudyDesign,
    settings: Settings,
    *,
    truth: pd.DataFrame | None = None,
    data_hashes: dict | None = None,
    attrition_before: pd.DataFrame | None = None,
    promote: bool = False,
    progress: Progress | None = None,
    label: str = LABEL,
    population: Node | None = None,
    general_scores: pd.DataFrame | None = None,
    specification: dict | None = None,
    snapshots: dict[str, pd.DataFrame] | None = None,
) -> TrainResult:
    """Cross-fit, calibrate, evaluate beside baselines (and the oracle), register, and run the promotion gate.

    ``frame``: person_id, as_of, the features and ``label`` for the design's months (other rows
    are dropped and counted), or the :class:`StackedRows` several specifications share (then
    ``label`` names its outcome column). ``population``: a programme's rule; the list is judged
    among the children it admits. ``general_scores`` (person_id, as_of, score): the general
    model's out-of-fold test scores, judged beside a programme's model. ``specification``: what the
    specification file decided about the model (:func:`~riskstrat.model.specs.model_fields`), recorded
    with it. ``snapshots``: the test months' eligibility snapshots read so far, shared by the
    specifications trained together (:func:`~riskstrat.audit.workspace.month_groups`).
    """
    declarations = list(declarations)
    ms = settings.model
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    specs = model_features(declarations)
    stacked = (frame.select(specs) if isinstance(frame, StackedRows)
               else StackedRows.from_frame(frame, specs, [label]))
    del frame
    if label not in stacked.outcomes:
        raise TrainError(f"feature frame: no {label!r} column")
    every_row = stacked.frame
    months = every_row["as_of"].to_numpy()
    outside = ~every_row["as_of"].isin(design.fit_months).to_numpy()
    unlabelled = ~outside & np.isnan(stacked.outcomes[label])
    attrition = [{"step": "rows in the training frame", "rows": int(len(every_row)),
                  "children": int(every_row["person_id"].nunique()), "events": None,
                  "note": f"as-of months {months.min()} to {months.max()}" if len(every_row) else "empty"},
                 {"step": "dropped: month outside the design", "rows": int(outside.sum()), "children": None, "events": None,
                  "note": f"not one of {design.fit_months[0]}..{design.fit_months[-1]} (unmatured, or before the look-back)"},
                 {"step": "dropped: no label (follow-up incomplete)", "rows": int(unlabelled.sum()), "children": None,
                  "events": None, "note": "left the plan in the window without the outcome"}]
    rows = np.flatnonzero(~outside & ~unlabelled)
    y = stacked.outcomes[label][rows]
    is_test = every_row["as_of"].isin(design.test_months).to_numpy()[rows]
    if y[is_test].sum() == 0:
        raise TrainError(f"test months ({', '.join(design.test_months)}): no events to judge from")
    clock["prepare"] = time.perf_counter() - t0

    t = time.perf_counter()
    admitted = None if population is None else population.test(every_row)[rows]  # no copy of the rows
    fitted = cross_fit(stacked, rows, y, design, ms, progress=progress, calibrate_on=admitted)
    clock["fit"] = time.perf_counter() - t

    t = time.perf_counter()
    test = every_row.iloc[rows[is_test]].reset_index(drop=True).assign(**{label: y[is_test].astype("int8")})
    test_raw = fitted.oof_raw[is_test]
    test_prob = fitted.judged_calibrator.predict(test_raw)
    test_scores = test[["person_id", "as_of"]].assign(person_id=test["person_id"].astype("string"), score=test_prob)
    rules = RulesBaseline(tuple(ms.rules_use_features), tuple(ms.rules_bh_features))
    # Only the rule's own columns: the learned rows are most of the frame.
    rule_columns = [c for c in (*rules.use_features, *rules.bh_features) if c in every_row.columns]
    rules.fit(every_row[rule_columns].iloc[rows[~is_test]], y[~is_test])
    judged = np.ones(len(test), dtype=bool) if population is None else population.test(test)
    judged_on = "every child" if population is None else f"children the {design.spec} population admits"
    if population is not None and test.loc[judged, label].sum() == 0:
        # A small plan's test months may hold no event in a narrow population; the list is then
        # judged on every child rather than not at all, and the card says so.
        judged = np.ones(len(test), dtype=bool)
        judged_on = (f"every child: the {design.spec} population had no {design.outcome} event in the test months "
                     "(too small a plan to judge the list among its own children)")
    scored = {
        "model": (test_raw[judged], test_prob[judged]),
        "logistic": (fitted.logistic_prob[is_test][judged],) * 2,
        "rules": (rules.score(test)[judged], rules.predict_proba(test)[judged]),
    }
    if general_scores is not None:
        joined = test[["person_id", "as_of"]].astype({"person_id": "string"}).merge(
            general_scores.astype({"person_id": "string"}), on=["person_id", "as_of"], how="left")["score"]
        if joined.notna().all():
            scored["general"] = (joined.to_numpy(float)[judged], None)
    test_judged = test.loc[judged].reset_index(drop=True)
    metrics = evaluate_all(test_judged, scored, settings, truth, label=label)
    metrics["cross_fit"] = {"folds": design.folds, "fold_trees": fitted.fold_trees,
                            "judging_max_rows": ms.judging_max_rows, "fold_non_events_kept": fitted.non_events_kept,
                            "stopping_max_rows": ms.stopping_max_rows,
                            "fold_stopping_non_events_kept": fitted.stopping_non_events_kept,
                            "registered_trees": fitted.booster.current_iteration(),
                            "population": judged_on,
                            "calibrated_on": _calibrated_on(population, fitted, admitted, y, design.spec),
                            "test_rows_all_children": int(len(test)), "test_rows_judged": int(judged.sum())}
    first_fold = fitted.fold[is_test] == 0
    metrics["learning_curve"] = learning_curve(fitted, test.loc[first_fold], label, truth, among=judged[first_fold])
    clock["evaluate"] = time.perf_counter() - t

    t = time.perf_counter()
    attrition = pd.concat([*( [attrition_before] if attrition_before is not None else []), pd.DataFrame(attrition),
                           fitted.attrition], ignore_index=True)
    # The list's own children are what each month's drift is compared with, not every child.
    reference = rows if population is None else rows[admitted]
    reference = reference[baseline_positions(len(reference), ms)]
    fairness, drift_reference = model_audit(
        workspace, test_judged, test_prob[judged], every_row.iloc[reference].assign(**{label: stacked.outcomes[label][reference]}),
        lambda frame: fitted.calibrator.predict(fitted.booster.predict(feature_matrix(frame, specs), raw_score=True)),
        [s.name for s in specs], design, settings, label, snapshots)
    bundle = ModelBundle(
        booster=fitted.booster,
        calibrator=fitted.calibrator,
        features=specs,
        declarations_hash=declarations_hash(declarations),
        catalogue_hash=catalogue_hash(declarations),
        design=design,
        attrition=attrition,
        metrics=metrics,
        data_hashes=data_hashes or {"digest": None, "partitions": {}, "note": "trained on a frame given directly, not read from the lake"},
        code=code_fingerprint(),
        params=lightgbm_params(ms, specs),
        settings=settings.model_dump(mode="json"),
        synthetic=truth is not None,
        fairness=fairness,
        drift_reference=drift_reference,
        test_scores=test_scores,
        specification=specification,
    )
    model_dir = registry.register(workspace, bundle)
    model_id = model_dir.name
    champion_before = registry.champion_id(workspace, design.spec)
    promoted, decision = promotion_gate(workspace, model_id, bundle, test_judged, settings, promote, label)
    clock["register"] = time.perf_counter() - t
    return TrainResult(
        model_id=model_id, model_dir=model_dir, design=design, metrics=metrics, attrition=attrition,
        promoted=promoted, decision=decision, champion_before=champion_before, synthetic=truth is not None,
        best_iteration=fitted.booster.current_iteration(), test_scores=test_scores, seconds=clock,
    )


def train_models(workspace: Path, as_of: str, settings: Settings, names: Sequence[str] | None = None, *,
                 progress: Progress | None = None, promote: bool = False) -> list[TrainResult]:
    """Train, evaluate and register one model per specification for ``as_of`` from the workspace's lake.

    ``names`` picks specifications (default: every one; the jobs stage decides which are due).
    Specifications with the same horizon and
    look-back share one stacked frame: the features are built once per month and each model
    reads its own outcome's column. The general list is trained first, so a programme's model is
    judged beside the general model's ranking on the same test rows.
    """
    workspace = Path(workspace)
    check_month(as_of, "--as-of")
    specs = load_specs(workspace, settings, list(names) if names else None)
    specs.sort(key=lambda s: s.population is not None)
    results: list[TrainResult] = []
    general: pd.DataFrame | None = None
    groups: dict[tuple, list[Specification]] = {}
    for s in specs:
        groups.setdefault((s.spec.horizon_months, s.spec.lookback_months), []).append(s)
    for group in groups.values():
        group_settings = settings.for_spec(group[0].spec)
        ms = group_settings.model
        design = StudyDesign.from_settings(as_of, ms, first_month=first_full_month(workspace, ms.lookback_months), spec=group[0].name)
        outcomes = list(dict.fromkeys(settings.for_spec(s.spec).model.outcome for s in group))
        # Outcomes known through as_of only: a model trained "as of" a past month must not learn
        # from deliveries that arrived after it, or its backtest flatters it.
        frame, attrition, matrix = labels.build_training_frame(
            workspace, list(design.fit_months), outcomes, group_settings, runout_months=ms.runout_months,
            known_month=as_of, progress=progress)
        attrition = summed_steps(attrition)
        # the builder's matrix holds feature_names() in order, which is every declared feature's
        stacked = StackedRows.from_frame(frame, model_features(FEATURES), outcomes, matrix=matrix)
        del frame, matrix
        hashes = {**lake_fingerprint(workspace, as_of), "up_to_delivery_month": as_of}
        # Read once for the group's lists, which share their test months (1.2 s a month on 500k members).
        snapshots: dict[str, pd.DataFrame] = {}
        for s in group:
            spec_settings = settings.for_spec(s.spec)
            spec_design = StudyDesign.from_settings(as_of, spec_settings.model, first_month=design.fit_months[0],
                                                    spec=s.name)
            outcome = spec_settings.model.outcome
            result = fit_and_register(
                workspace, stacked, s.features, spec_design, spec_settings, label=outcome,
                truth=load_truth(workspace, outcome) if spec_settings.model.horizon_months == 6 else None,
                data_hashes=hashes, attrition_before=_outcome_steps(attrition, outcome),
                promote=promote, progress=progress, population=s.population,
                general_scores=general if s.population is not None else None,
                specification=model_fields(s.spec, settings), snapshots=snapshots,
            )
            if s.population is None and general is None:
                general = result.test_scores
            results.append(result)
            # LightGBM's boosters and bin subsets sit in reference cycles: collected now, the next
            # specification's fits reuse their memory instead of adding to it.
            gc.collect()
    return results


def train_model(workspace: Path, as_of: str, settings: Settings, progress: Progress | None = None,
                promote: bool = False, spec: str | None = None) -> TrainResult:
    """:func:`train_models` for one specification (default: the general list)."""
    return train_models(workspace, as_of, settings, [spec or DEFAULT_SPEC], progress=progress, promote=promote)[0]


def _outcome_steps(attrition: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The builder's attrition for one outcome: the population steps, and that outcome's own follow-up steps."""
    own = attrition["outcome"].isna() | (attrition["outcome"] == outcome)
    return attrition.loc[own.to_numpy(dtype=bool)].drop(columns="outcome").reset_index(drop=True)


def summed_steps(attrition: pd.DataFrame) -> pd.DataFrame:
    """The training frame builder's per-month steps (as_of, step, children and the ``outcome`` a step
    belongs to, if any) summed over the months, per outcome: the attrition rows a model card shows."""
    steps = attrition if "outcome" in attrition else attrition.assign(outcome=None)
    rows = []
    for (outcome, step), group in steps.groupby(["outcome", "step"], sort=False, dropna=False):
        rows.append({"outcome": None if pd.isna(outcome) else outcome, "step": f"built: {step}",
                     "rows": int(group["children"].sum()), "children": None, "events": None,
                     "note": f"child-months summed over {group['as_of'].nunique()} as-of months"})
    return pd.DataFrame(rows, columns=["outcome", "step", "rows", "children", "events", "note"])
