"""Training: split by time and by child, fit LightGBM, calibrate on months it never saw, judge, register.

The recipe (:func:`fit_and_register`, called by :func:`train_model` once the features stage has
built the frame):

1. :func:`split_frame` — each as-of month belongs to one side (train < tune < calibration <
   test, from the :class:`~riskstrat.model.design.StudyDesign`) and each child to one side (a fixed
   hash of ``person_id``). A row is kept only where the two agree (the tuning children also in
   the training months), so no child is on both sides of any split and nothing later than a
   side's months reaches it. Every drop is counted.
2. :func:`fit_booster` — LightGBM, shallow trees, monotone where the declarations say so,
   early-stopped on the tuning children's log-loss, deterministic.
3. :class:`PlattCalibrator` — fitted on the calibration months only.
4. Baselines (:mod:`riskstrat.model.baselines`) and, on synthetic plans, the oracle, on the same
   test rows (:mod:`riskstrat.model.evaluation`).
5. :mod:`riskstrat.model.registry` — register the challenger, then the promotion gate.

Why no re-weighting or oversampling of the rare outcome: both change the base rate the model
learns, so its probabilities would have to be un-distorted afterwards, and ranking (what the
worklist uses) does not gain from it. The binary log-loss on the natural rate, leaves with at
least ``min_child_samples`` children, and early stopping on log-loss keep the rare class honest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from riskstrat.audit.training import model_audit
from riskstrat.config import ModelSettings, Settings
from riskstrat.core.fingerprint import code_fingerprint, lake_fingerprint
from riskstrat.core.months import add_months, check_month, month_of
from riskstrat.core.progress import Progress, tick
from riskstrat.core.workspace import TRUTH, lake_partitions, partition_month
from riskstrat.features import FEATURES, Feature
from riskstrat.features.declarations import catalogue_hash, declarations_hash
from riskstrat.model import labels, registry
from riskstrat.model.baselines import LABEL, RulesBaseline, baseline_sample, fit_logistic
from riskstrat.model.bundle import ModelBundle
from riskstrat.model.calibration import PlattCalibrator
from riskstrat.model.design import StudyDesign, person_sides
from riskstrat.model.evaluation import evaluate_all, promotion_gate
from riskstrat.model.matrix import ModelFeature, TrainError, feature_matrix, model_features, training_array

SIDES = ("train", "tune", "calibration", "test")


@dataclass
class Splits:
    """Rows of each side, and the attrition table saying how many rows each step kept and why."""

    train: pd.DataFrame
    tune: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame
    attrition: pd.DataFrame

    def side(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


def _side_months_note(design: StudyDesign, side: str) -> str:
    months = ", ".join(getattr(design, f"{side}_months"))
    return f"{months}, and the training months" if side == "tune" else months


def split_frame(frame: pd.DataFrame, design: StudyDesign, settings: ModelSettings, label: str = LABEL) -> Splits:
    """Keep a row only where its month's side and its child's side agree; count every drop.

    The tuning children are also kept in the training months: early stopping then judges on
    every month of theirs up to the tuning month(s), not on one month's few events (a small
    plan's single tuning month holds a dozen), and still on children the booster never saw.

    A row whose month is later than the last matured month would carry an unfinished label and
    is dropped (and counted) rather than trusted.
    """
    for col in ("person_id", "as_of", label):
        if col not in frame.columns:
            raise TrainError(f"feature frame: no {col!r} column")
    months = month_of(frame["as_of"])
    rows: list[dict] = []

    def count(step: str, mask, note: str) -> None:
        sub = frame.loc[mask] if mask is not None else frame
        rows.append(
            {
                "step": step,
                "rows": int(len(sub)),
                "children": int(sub["person_id"].nunique()),
                "events": int(pd.to_numeric(sub[label], errors="coerce").fillna(0).sum()),
                "note": note,
            }
        )

    count("rows in the training frame", None, f"as-of months {months.min()} to {months.max()}" if len(frame) else "empty")
    unmatured = months > design.last_matured_month
    count("dropped: outcome not matured", unmatured, f"as-of month after {design.last_matured_month}")
    no_label = frame[label].isna()
    count("dropped: no label", no_label & ~unmatured, "label missing")
    month_side = months.map({m: design.side_of(m) for m in months.unique()})
    outside = month_side.isna() & ~unmatured & ~no_label
    count("dropped: month outside the design", outside, "not a train, tune, calibration or test month")
    child_side = person_sides(frame["person_id"], settings)
    month_side = month_side.mask((month_side == "train") & (child_side == "tune"), "tune")
    parts = {}
    for side in SIDES:
        at_side = (month_side == side) & ~no_label & ~unmatured
        held = at_side & (child_side != side)
        if held.any():
            count(
                f"{side}: dropped, child held for another side", held,
                "each child is on one side only, so no child is on both sides of a split",
            )
        keep = at_side & (child_side == side)
        count(f"{side}: kept", keep, _side_months_note(design, side))
        parts[side] = frame.loc[keep].assign(as_of=months[keep]).reset_index(drop=True)
    splits = Splits(**parts, attrition=pd.DataFrame(rows))
    for side in SIDES:
        part = splits.side(side)
        if len(part) == 0 or part[label].sum() == 0:
            raise TrainError(f"{side} months ({', '.join(getattr(design, f'{side}_months'))}): no events to learn or judge from")
    return splits


def lightgbm_params(settings: ModelSettings, specs: list[ModelFeature]) -> dict:
    """LightGBM parameters: shallow, monotone where declared, reproducible to the byte."""
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_child_samples": settings.min_child_samples,
        "lambda_l2": 1.0,
        "max_bin": 255,
        "monotone_constraints": [s.direction for s in specs],
        "monotone_constraints_method": "intermediate",
        "seed": settings.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": settings.num_threads,
        "verbosity": -1,
    }


def lightgbm_datasets(train: pd.DataFrame, tune: pd.DataFrame, specs: list[ModelFeature], settings: ModelSettings,
                      label: str = LABEL) -> tuple[lgb.Dataset, lgb.Dataset]:
    """Binned LightGBM datasets for the training and tuning rows; the float matrices are freed once binned."""
    params = lightgbm_params(settings, specs)
    names = [s.name for s in specs]
    x = training_array(train, specs)
    dtrain = lgb.Dataset(x, label=train[label].to_numpy(), feature_name=names, params=params, free_raw_data=True)
    del x
    dtrain.construct()
    dtune = lgb.Dataset(training_array(tune, specs), label=tune[label].to_numpy(), params=params, reference=dtrain)
    dtune.construct()
    return dtrain, dtune


def fit_booster(dtrain: lgb.Dataset, dtune: lgb.Dataset, specs: list[ModelFeature], settings: ModelSettings) -> lgb.Booster:
    """Boost on the training rows, stop early on the tuning rows, return the booster cut at its best tree.

    The returned booster is re-read from its own text, so it is byte for byte what the registry
    stores and what scoring will load.
    """
    booster = lgb.train(
        lightgbm_params(settings, specs), dtrain, num_boost_round=settings.max_trees, valid_sets=[dtune],
        valid_names=["tune"], callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def load_truth(workspace: Path) -> pd.DataFrame | None:
    """The synthetic plan's oracle (``truth/risk.parquet``), or None on a real plan."""
    path = Path(workspace) / TRUTH / "risk.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["person_id", "month", "p_true"])
    truth["person_id"] = truth["person_id"].astype("string")
    truth["month"] = month_of(truth["month"])
    return truth


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
    seconds: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """A few lines for the CLI; no member-level data."""
        d, m = self.design, self.metrics
        lines = [
            f"model {self.model_id}  ({'synthetic plan' if self.synthetic else 'plan data'})",
            f"train {d.train_months[0]}..{d.train_months[-1]} | tune {', '.join(d.tune_months)} (+ training months) | "
            f"calibrate {', '.join(d.calibration_months)} | test {', '.join(d.test_months)}",
            f"trees {self.best_iteration}; test rows {m['model']['n']:,} with {m['model']['events']:,} events",
        ]
        return lines


def fit_and_register(
    workspace: Path,
    frame: pd.DataFrame | Splits,
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
) -> TrainResult:
    """Split, fit, calibrate, evaluate beside baselines (and the oracle), register, and run the promotion gate."""
    declarations = list(declarations)
    ms = settings.model
    clock: dict[str, float] = {}
    total = 6
    t0 = time.perf_counter()
    tick(progress, "splitting", 0, total)
    splits = frame if isinstance(frame, Splits) else split_frame(frame, design, ms, label=label)
    del frame
    specs = model_features(declarations)
    clock["split"] = time.perf_counter() - t0

    tick(progress, "fitting LightGBM", 1, total)
    t = time.perf_counter()
    dtrain, dtune = lightgbm_datasets(splits.train, splits.tune, specs, ms, label=label)
    # Once binned, the training rows are needed only for the logistic baseline's sample; letting
    # the frame go now keeps the peak near one copy of the training data.
    baseline_rows = baseline_sample(splits.train, ms)
    splits.train = None
    booster = fit_booster(dtrain, dtune, specs, ms)
    del dtrain, dtune
    clock["fit"] = time.perf_counter() - t

    tick(progress, "calibrating", 2, total)
    t = time.perf_counter()
    cal = splits.calibration
    calibrator = PlattCalibrator().fit(booster.predict(feature_matrix(cal, specs), raw_score=True), cal[label].to_numpy())
    clock["calibrate"] = time.perf_counter() - t

    tick(progress, "baselines", 3, total)
    t = time.perf_counter()
    logistic = fit_logistic(baseline_rows, specs, ms, label=label)
    rules = RulesBaseline(tuple(ms.rules_use_features), tuple(ms.rules_bh_features)).fit(cal, cal[label])
    clock["baselines"] = time.perf_counter() - t

    tick(progress, "evaluating", 4, total)
    t = time.perf_counter()
    test = splits.test
    metrics = evaluate_all(test, specs, booster, calibrator, logistic, rules, settings, truth, label=label)
    clock["evaluate"] = time.perf_counter() - t

    tick(progress, "registering", 5, total)
    t = time.perf_counter()
    attrition = splits.attrition if attrition_before is None else pd.concat([attrition_before, splits.attrition], ignore_index=True)
    # The training rows are gone by now (freed once binned); the baseline's fixed sample of them
    # stands in for the drift reference, which needs their distribution, not every row.
    fairness, drift_reference = model_audit(
        workspace, test, baseline_rows,
        lambda rows: calibrator.predict(booster.predict(feature_matrix(rows, specs), raw_score=True)),
        [s.name for s in specs], design, settings, label)
    bundle = ModelBundle(
        booster=booster,
        calibrator=calibrator,
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
    )
    model_dir = registry.register(workspace, bundle)
    model_id = model_dir.name
    champion_before = registry.champion_id(workspace)
    promoted, decision = promotion_gate(workspace, model_id, bundle, test, settings, promote, label)
    clock["register"] = time.perf_counter() - t
    tick(progress, "done", total, total)
    return TrainResult(
        model_id=model_id, model_dir=model_dir, design=design, metrics=metrics, attrition=attrition,
        promoted=promoted, decision=decision, champion_before=champion_before, synthetic=truth is not None,
        best_iteration=booster.current_iteration(), seconds=clock,
    )


def train_model(workspace: Path, as_of: str, settings: Settings, progress: Progress | None = None,
                promote: bool = False) -> TrainResult:
    """Train, evaluate and register a model for ``as_of`` from the workspace's lake.

    The design is laid back from ``as_of`` (from the first month the lake gives a full
    look-back); the features stage builds each as-of month's rows, and only the rows of the
    children on that month's side are kept, so memory holds what training uses, not every child
    of every month.
    """
    workspace = Path(workspace)
    check_month(as_of, "--as-of")
    ms = settings.model
    design = StudyDesign.from_settings(as_of, ms, first_month=_first_supported_month(workspace, ms))
    return train_from_builder(
        workspace,
        # Outcomes known through as_of only: a model trained as of a past month must not learn
        # from deliveries that arrived after it, or its backtest flatters it.
        lambda month: labels.build_training_frame(
            workspace, [month], ms.outcome, settings, runout_months=ms.runout_months, known_month=as_of
        ),
        FEATURES, design, settings,
        truth=load_truth(workspace),
        data_hashes={**lake_fingerprint(workspace, as_of), "up_to_delivery_month": as_of},
        promote=promote,
        progress=progress,
    )


def train_from_builder(workspace: Path, build_month: Callable[[str], object], declarations: Sequence[Feature],
                       design: StudyDesign, settings: Settings, **kwargs) -> TrainResult:
    """:func:`collect_training_frame`, :func:`split_frame`, then :func:`fit_and_register` (``kwargs`` go there)."""
    frame, attrition_before = collect_training_frame(build_month, design, settings.model, progress=kwargs.get("progress"))
    splits = split_frame(frame, design, settings.model)
    del frame  # the sides hold copies; keeping the stacked frame too would double the peak
    return fit_and_register(workspace, splits, declarations, design, settings, attrition_before=attrition_before, **kwargs)


def collect_training_frame(build_month: Callable[[str], object], design: StudyDesign, settings: ModelSettings,
                           progress: Progress | None = None, label: str = LABEL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build every design month with ``build_month`` and keep only the children on that month's side.

    ``build_month(month)`` returns the month's frame (person_id, as_of, features, label) or
    ``(frame, attrition)`` with attrition rows (step, children). Numbers are stored as float32,
    as the model reads them. Returns the stacked frame and an attrition table: the builder's
    steps summed over the months, then per side the rows of children held for another side.
    """
    parts, built_steps = [], []
    held = {side: {"rows": 0, "events": 0, "months": 0} for side in SIDES}
    sides_cache: dict[str, str] = {}
    months = design.all_months
    for i, month in enumerate(months):
        tick(progress, "building as-of months", i, len(months))
        built = build_month(month)
        frame, attrition = built if isinstance(built, tuple) else (built, None)
        if attrition is not None:
            built_steps.append(attrition if isinstance(attrition, pd.DataFrame) else pd.DataFrame(attrition))
        if label not in frame.columns and settings.outcome in frame.columns:
            frame = frame.rename(columns={settings.outcome: label})
        side = design.side_of(month)
        child_side = person_sides(frame["person_id"], settings, cache=sides_cache)
        keep = ((child_side == side) | ((side == "train") & (child_side == "tune"))).to_numpy()
        held[side]["rows"] += int((~keep).sum())
        held[side]["events"] += int(pd.to_numeric(frame.loc[~keep, label], errors="coerce").fillna(0).sum())
        held[side]["months"] += 1
        kept = frame.loc[keep]
        wide = kept.select_dtypes(include=["float64", "int64", "Float64", "Int64"]).columns.difference([label])
        parts.append(kept.astype({c: "float32" for c in wide}))
        del frame, kept
    tick(progress, "building as-of months", len(months), len(months))
    stacked = pd.concat(parts, ignore_index=True)
    del parts
    rows = []
    if built_steps:
        steps = pd.concat(built_steps, ignore_index=True)
        for step, group in steps.groupby("step", sort=False):
            n = int(group["children"].sum())
            rows.append({"step": f"built: {step}", "rows": n, "children": None, "events": None,
                         "note": f"child-months summed over {group['as_of'].nunique() if 'as_of' in group else len(group)} as-of months"})
    for side, h in held.items():
        rows.append({"step": f"{side}: dropped, child held for another side", "rows": h["rows"], "children": None,
                     "events": h["events"], "note": f"while building its {h['months']} month(s); each child is on one side only"})
    return stacked, pd.DataFrame(rows)


def _first_supported_month(workspace: Path, ms: ModelSettings) -> str | None:
    """The first as-of month with a full look-back in the lake (first eligibility delivery + look-back - 1)."""
    months = sorted(partition_month(p) for p in lake_partitions(workspace) if p.parent.parent.name == "eligibility")
    if not months:
        return None
    return add_months(months[0], ms.lookback_months - 1)
