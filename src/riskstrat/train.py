"""Training: split by time and by child, fit LightGBM, calibrate on months it never saw, judge, register.

The recipe (:func:`fit_and_register`, called by :func:`train_model` once the features stage has
built the frame):

1. :func:`split_frame` — each as-of month belongs to one side (train < tune < calibration <
   test, from the :class:`~riskstrat.design.StudyDesign`) and each child to one side (a fixed
   hash of ``person_id``). A row is kept only where the two agree (the tuning children also in
   the training months), so no child is on both sides of any split and nothing later than a
   side's months reaches it. Every drop is counted.
2. :func:`fit_booster` — LightGBM, shallow trees, monotone where the declarations say so,
   early-stopped on the tuning children's log-loss, deterministic.
3. :class:`PlattCalibrator` — fitted on the calibration months only.
4. Baselines (rules and logistic regression) and, on synthetic plans, the oracle, on the same
   test rows; :mod:`riskstrat.evaluate` for every metric.
5. :mod:`riskstrat.registry` — register the challenger, then the promotion gate.

Why no re-weighting or oversampling of the rare outcome: both change the base rate the model
learns, so its probabilities would have to be un-distorted afterwards, and ranking (what the
worklist uses) does not gain from it. The binary log-loss on the natural rate, leaves with at
least ``min_child_samples`` children, and early stopping on log-loss keep the rare class honest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskstrat import __version__
from riskstrat import evaluate as ev
from riskstrat.config import ModelSettings, Settings
from riskstrat.design import StudyDesign, check_month
from riskstrat.provenance import sha256_file

Progress = Callable[[str, int, int], None]
LABEL = "label"
SIDES = ("train", "tune", "calibration", "test")
# Constant on purpose: a child held for testing stays held in every retrain, so a champion and
# its challenger never trained on each other's test children.
_SPLIT_SALT = "riskstrat-split-v1"


class TrainError(ValueError):
    """Training cannot go ahead; the message says what is missing or wrong and where."""


# --------------------------------------------------------------------------------------------
# Feature declarations, as the model sees them


@dataclass(frozen=True)
class FeatureSpec:
    """What training needs from one feature declaration (the features stage owns the declaration).

    ``direction`` is the monotone hint: +1 risk never falls as the value rises, -1 never rises,
    0 no constraint. ``categories`` is set for categorical features (learned at fit time).
    """

    name: str
    description: str = ""
    window: str = ""
    direction: int = 0
    kind: str = "numeric"
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["categories"] = list(self.categories) if self.categories is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureSpec":
        data = dict(data)
        if data.get("categories") is not None:
            data["categories"] = tuple(data["categories"])
        return cls(**data)


_DIRECTION_WORDS = {
    "increasing": 1, "increase": 1, "up": 1, "+": 1, "+1": 1, "positive": 1, "higher": 1,
    "decreasing": -1, "decrease": -1, "down": -1, "-": -1, "-1": -1, "negative": -1, "lower": -1,
    "none": 0, "": 0, "0": 0, "unconstrained": 0,
}


def _get(decl, *names, default=None):
    for name in names:
        value = decl.get(name) if isinstance(decl, dict) else getattr(decl, name, None)
        if value is not None:
            return value
    return default


def _direction(value) -> int:
    if value is None or value is False:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return int(np.sign(value))
    key = str(value).strip().lower()
    if key not in _DIRECTION_WORDS:
        raise TrainError(f"feature declaration: monotone direction {value!r} is not one of +1, -1, 0, increasing, decreasing")
    return _DIRECTION_WORDS[key]


def feature_specs(declarations: Iterable) -> list[FeatureSpec]:
    """Read name, description, window, monotone hint and kind from each declaration.

    Accepts the features stage's declaration objects (or dicts) without depending on their class.
    """
    specs = []
    for decl in declarations:
        if isinstance(decl, FeatureSpec):
            specs.append(decl)
            continue
        name = _get(decl, "name")
        if not name:
            raise TrainError(f"feature declaration without a name: {decl!r}")
        kind = str(_get(decl, "kind", "dtype", "type", default="numeric")).lower()
        specs.append(
            FeatureSpec(
                name=str(name),
                description=str(_get(decl, "description", "description_template", "doc", default="")),
                window=str(_get(decl, "window", "window_months", default="")),
                direction=_direction(_get(decl, "direction", "monotone", "monotone_direction", "monotone_hint")),
                kind="categorical" if kind in {"categorical", "category", "string", "str", "varchar"} else "numeric",
            )
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise TrainError(f"feature declarations: {', '.join(dup)} declared more than once")
    if not specs:
        raise TrainError("feature declarations: none given")
    return specs


def _jsonable(decl):
    if dataclasses.is_dataclass(decl) and not isinstance(decl, type):
        return dataclasses.asdict(decl)
    if hasattr(decl, "model_dump"):
        return decl.model_dump()
    if isinstance(decl, dict):
        return decl
    return {k: v for k, v in vars(decl).items() if not k.startswith("_")}


def declarations_hash(declarations: Iterable) -> str:
    """sha256 of the declarations as canonical JSON: any change to a feature's definition changes it."""
    payload = json.dumps([_jsonable(d) for d in declarations], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def feature_matrix(frame: pd.DataFrame, specs: list[FeatureSpec]) -> pd.DataFrame:
    """The model's input: declared features in declared order, float32 numbers, fixed categories.

    The same function feeds training, calibration, scoring and SHAP, so what is explained is
    exactly what was scored.
    """
    _check_columns(frame, specs)
    cols = {}
    for s in specs:
        col = frame[s.name]
        if s.kind == "categorical":
            cats = list(s.categories) if s.categories is not None else sorted(col.dropna().astype(str).unique())
            cols[s.name] = pd.Categorical(col.astype("string"), categories=cats)
        else:
            try:
                cols[s.name] = pd.to_numeric(col, errors="raise").astype("float32")
            except (TypeError, ValueError):
                raise TrainError(f"feature frame: column {s.name} is declared numeric but holds non-numbers") from None
    return pd.DataFrame(cols, index=frame.index)


def _check_columns(frame: pd.DataFrame, specs: list[FeatureSpec]) -> None:
    missing = [s.name for s in specs if s.name not in frame.columns]
    if missing:
        raise TrainError(f"feature frame: missing declared feature column(s) {', '.join(missing)}")


def _learn_categories(frame: pd.DataFrame, specs: list[FeatureSpec]) -> list[FeatureSpec]:
    return [
        dataclasses.replace(s, categories=tuple(sorted(frame[s.name].dropna().astype(str).unique())))
        if s.kind == "categorical" else s
        for s in specs
    ]


# --------------------------------------------------------------------------------------------
# The split


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


def month_column(values: pd.Series) -> pd.Series:
    """As-of values (dates, periods or strings) as ``YYYY-MM`` strings."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m")
    if isinstance(values.dtype, pd.PeriodDtype):
        return values.dt.strftime("%Y-%m")
    return values.astype("string").str.slice(0, 7)


def person_sides(person_ids: pd.Series, settings: ModelSettings, cache: dict[str, str] | None = None) -> pd.Series:
    """The side each child belongs to, from a fixed hash of ``person_id``: the same in every retrain.

    sha256 rather than Python's ``hash`` so the split is the same in every process and could be
    reproduced in SQL; ``cache`` saves re-hashing the same children month after month.
    """
    cache = {} if cache is None else cache
    codes, uniques = pd.factorize(person_ids.astype("string"))
    uniques = uniques.to_numpy(dtype=object)
    sides = np.array([cache.get(pid) for pid in uniques], dtype=object)
    new = np.flatnonzero(pd.isna(sides))
    if len(new):
        u = np.array([
            int.from_bytes(hashlib.sha256(f"{_SPLIT_SALT}:{uniques[i]}".encode()).digest()[:8], "big") / 2**64 for i in new
        ])
        cut_test = settings.test_share
        cut_cal = cut_test + settings.calibration_share
        cut_tune = cut_cal + settings.tune_share
        sides[new] = np.where(u < cut_test, "test", np.where(u < cut_cal, "calibration", np.where(u < cut_tune, "tune", "train")))
        cache.update(zip(uniques[new].tolist(), sides[new].tolist()))
    out = np.where(codes >= 0, sides[np.maximum(codes, 0)] if len(sides) else None, None)
    return pd.Series(out, index=person_ids.index, dtype=object)


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
    months = month_column(frame["as_of"])
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


# --------------------------------------------------------------------------------------------
# Fitting


def lightgbm_params(settings: ModelSettings, specs: list[FeatureSpec]) -> dict:
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


def lightgbm_datasets(train: pd.DataFrame, tune: pd.DataFrame, specs: list[FeatureSpec], settings: ModelSettings,
                      label: str = LABEL) -> tuple[lgb.Dataset, lgb.Dataset]:
    """Binned LightGBM datasets for the training and tuning rows; the float matrices are freed once binned."""
    params = lightgbm_params(settings, specs)
    names = [s.name for s in specs]
    x = _lgb_input(train, specs)
    dtrain = lgb.Dataset(x, label=train[label].to_numpy(), feature_name=names, params=params, free_raw_data=True)
    del x
    dtrain.construct()
    dtune = lgb.Dataset(_lgb_input(tune, specs), label=tune[label].to_numpy(), params=params, reference=dtrain)
    dtune.construct()
    return dtrain, dtune


def fit_booster(dtrain: lgb.Dataset, dtune: lgb.Dataset, specs: list[FeatureSpec], settings: ModelSettings) -> lgb.Booster:
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


def _lgb_input(frame: pd.DataFrame, specs: list[FeatureSpec]):
    """The training matrix: one C-ordered float32 array when every feature is numeric.

    pandas hands LightGBM a column-major block that it copies again; filling one row-major array
    column by column keeps a single copy of the largest thing in memory.
    """
    if any(s.kind == "categorical" for s in specs):
        return feature_matrix(frame, specs)
    _check_columns(frame, specs)
    out = np.empty((len(frame), len(specs)), dtype=np.float32, order="C")
    for j, s in enumerate(specs):
        try:
            out[:, j] = pd.to_numeric(frame[s.name], errors="raise").to_numpy(dtype=np.float32, na_value=np.nan)
        except (TypeError, ValueError):
            raise TrainError(f"feature frame: column {s.name} is declared numeric but holds non-numbers") from None
    return out


@dataclass
class PlattCalibrator:
    """Probability = sigmoid(slope x raw log-odds + intercept), fitted on months the model never saw.

    Platt, not isotonic, because: it keeps every child's order (isotonic's flat steps would tie
    hundreds of children at the worklist cut and make the SHAP reasons explain a score the
    ranking no longer uses); its two parameters are stable with the few hundred events a small
    plan has in two calibration months; and a LightGBM log-loss model is usually off by a shift
    and scale in log-odds, which is what Platt corrects. Test-month ECE shows if that ever fails.
    """

    slope_: float | None = None
    intercept_: float | None = None
    n_: int = 0
    events_: int = 0

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "PlattCalibrator":
        from sklearn.linear_model import LogisticRegression

        raw = np.asarray(raw, dtype=float).reshape(-1, 1)
        y = np.asarray(y, dtype=int)
        if y.min() == y.max():
            raise TrainError("calibration months: need both events and non-events to calibrate")
        lr = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000).fit(raw, y)
        self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        self.n_, self.events_ = int(len(y)), int(y.sum())
        return self

    def predict(self, raw) -> np.ndarray:
        if self.slope_ is None:
            raise TrainError("calibrator is not fitted")
        z = self.slope_ * np.asarray(raw, dtype=float) + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {"method": "platt", "input": "lightgbm raw score (log-odds)", "slope": self.slope_,
                "intercept": self.intercept_, "n": self.n_, "events": self.events_}

    @classmethod
    def from_dict(cls, data: dict) -> "PlattCalibrator":
        if data.get("method") != "platt":
            raise TrainError(f"calibrator: method {data.get('method')!r} is not 'platt'")
        slope, intercept = float(data["slope"]), float(data["intercept"])
        if not (math.isfinite(slope) and math.isfinite(intercept)):
            raise TrainError("calibrator: slope and intercept must be finite numbers")
        return cls(slope_=slope, intercept_=intercept, n_=int(data.get("n", 0)), events_=int(data.get("events", 0)))


# --------------------------------------------------------------------------------------------
# Baselines


@dataclass
class RulesBaseline:
    """A plan's case-finding by hand: prior ED or inpatient use AND a behavioural-health diagnosis.

    Children meeting the rule rank first, then by total prior use; its probability is the event
    rate of its group (meets / does not) in the calibration months.
    """

    use_features: tuple[str, ...]
    bh_features: tuple[str, ...]
    rate_meets_: float | None = None
    rate_other_: float | None = None

    def _parts(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        missing = [f for f in (*self.use_features, *self.bh_features) if f not in frame.columns]
        if missing:
            raise TrainError(
                f"rules baseline: feature(s) {', '.join(missing)} are not declared; set model.rules_use_features "
                f"and model.rules_bh_features in riskstrat.toml to declared feature names"
            )
        use = frame[list(self.use_features)].apply(pd.to_numeric).fillna(0).clip(lower=0).sum(axis=1).to_numpy(float)
        bh = (frame[list(self.bh_features)].apply(pd.to_numeric).fillna(0) > 0).any(axis=1).to_numpy()
        return use, (use > 0) & bh

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        use, meets = self._parts(frame)
        return meets * 1e6 + use

    def fit(self, frame: pd.DataFrame, y) -> "RulesBaseline":
        _, meets = self._parts(frame)
        y = np.asarray(y, dtype=float)
        self.rate_meets_ = float(y[meets].mean()) if meets.any() else float(y.mean())
        self.rate_other_ = float(y[~meets].mean()) if (~meets).any() else float(y.mean())
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        _, meets = self._parts(frame)
        return np.where(meets, self.rate_meets_, self.rate_other_)


def fit_logistic(train: pd.DataFrame, specs: list[FeatureSpec], settings: ModelSettings, label: str = LABEL):
    """Logistic regression on the same features: median-imputed, scaled numbers; one-hot categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = _baseline_sample(train, settings)
    numeric = [s.name for s in specs if s.kind == "numeric"]
    categorical = [s.name for s in specs if s.kind == "categorical"]
    transformers = [("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()), numeric)]
    if categorical:
        transformers.append(("cat", OneHotEncoder(handle_unknown="ignore"), categorical))
    pipe = Pipeline([("prep", ColumnTransformer(transformers)), ("lr", LogisticRegression(max_iter=2000))])
    pipe.fit(_for_sklearn(train, specs), train[label].to_numpy(int))
    return pipe


def _baseline_sample(train: pd.DataFrame, settings: ModelSettings) -> pd.DataFrame:
    if len(train) > settings.baseline_max_rows:
        return train.sample(n=settings.baseline_max_rows, random_state=settings.seed)
    return train


def _for_sklearn(frame: pd.DataFrame, specs: list[FeatureSpec]) -> pd.DataFrame:
    x = feature_matrix(frame, specs)
    for s in specs:
        if s.kind == "categorical":
            x[s.name] = x[s.name].astype(object).where(x[s.name].notna(), "missing")
    return x


# --------------------------------------------------------------------------------------------
# Provenance


def code_version() -> dict:
    """Package version and, when the code runs from a git checkout, the commit and whether it had edits."""
    here = Path(__file__).resolve().parent
    out: dict = {"package": "riskstrat", "version": __version__, "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True, timeout=5)
            out["git_dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    out["lightgbm"] = lgb.__version__
    return out


def lake_data_hashes(workspace: Path, as_of: str) -> dict:
    """sha256 of every lake partition file with delivery month up to ``as_of``, and one digest over all.

    Ingest writes the same bytes for the same delivery, so equal digests mean equal inputs.
    """
    lake = Path(workspace) / "lake"
    files: dict[str, str] = {}
    if lake.is_dir():
        for path in sorted(lake.glob("*/delivery_month=*/*.parquet")):
            month = path.parent.name.split("=", 1)[1]
            if month <= as_of:
                files[path.relative_to(lake).as_posix()] = sha256_file(path)
    overall = hashlib.sha256("\n".join(f"{k} {v}" for k, v in files.items()).encode()).hexdigest()
    return {"lake_digest": overall, "files": files, "up_to_delivery_month": as_of}


def load_truth(workspace: Path) -> pd.DataFrame | None:
    """The synthetic plan's oracle (``truth/risk.parquet``), or None on a real plan."""
    path = Path(workspace) / "truth" / "risk.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["person_id", "month", "p_true"])
    truth["person_id"] = truth["person_id"].astype("string")
    truth["month"] = month_column(truth["month"])
    return truth


# --------------------------------------------------------------------------------------------
# The whole recipe


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


def _step(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def fit_and_register(
    workspace: Path,
    frame: pd.DataFrame | Splits,
    declarations: Iterable,
    design: StudyDesign,
    settings: Settings,
    *,
    truth: pd.DataFrame | None = None,
    data_hashes: dict | None = None,
    attrition_before: pd.DataFrame | None = None,
    catalogue_hash: str | None = None,
    promote: bool = False,
    progress: Progress | None = None,
    label: str = LABEL,
) -> TrainResult:
    """Split, fit, calibrate, evaluate beside baselines (and the oracle), register, and run the promotion gate."""
    import time

    from riskstrat import registry
    from riskstrat.audit.training import model_audit

    declarations = list(declarations)
    ms = settings.model
    clock: dict[str, float] = {}
    total = 6
    t0 = time.perf_counter()
    _step(progress, "splitting", 0, total)
    splits = frame if isinstance(frame, Splits) else split_frame(frame, design, ms, label=label)
    del frame
    specs = _learn_categories(splits.train, feature_specs(declarations))
    clock["split"] = time.perf_counter() - t0

    _step(progress, "fitting LightGBM", 1, total)
    t = time.perf_counter()
    dtrain, dtune = lightgbm_datasets(splits.train, splits.tune, specs, ms, label=label)
    # Once binned, the training rows are needed only for the logistic baseline's sample; letting
    # the frame go now keeps the peak near one copy of the training data.
    baseline_rows = _baseline_sample(splits.train, ms)
    splits.train = None
    booster = fit_booster(dtrain, dtune, specs, ms)
    del dtrain, dtune
    clock["fit"] = time.perf_counter() - t

    _step(progress, "calibrating", 2, total)
    t = time.perf_counter()
    cal = splits.calibration
    calibrator = PlattCalibrator().fit(booster.predict(feature_matrix(cal, specs), raw_score=True), cal[label].to_numpy())
    clock["calibrate"] = time.perf_counter() - t

    _step(progress, "baselines", 3, total)
    t = time.perf_counter()
    logistic = fit_logistic(baseline_rows, specs, ms, label=label)
    rules = RulesBaseline(tuple(ms.rules_use_features), tuple(ms.rules_bh_features)).fit(cal, cal[label])
    clock["baselines"] = time.perf_counter() - t

    _step(progress, "evaluating", 4, total)
    t = time.perf_counter()
    test = splits.test
    metrics = evaluate_all(test, specs, booster, calibrator, logistic, rules, settings, truth, label=label)
    clock["evaluate"] = time.perf_counter() - t

    _step(progress, "registering", 5, total)
    t = time.perf_counter()
    attrition = splits.attrition if attrition_before is None else pd.concat([attrition_before, splits.attrition], ignore_index=True)
    # The training rows are gone by now (freed once binned); the baseline's fixed sample of them
    # stands in for the drift reference, which needs their distribution, not every row.
    fairness, drift_reference = model_audit(
        workspace, test, baseline_rows,
        lambda rows: calibrator.predict(booster.predict(feature_matrix(rows, specs), raw_score=True)),
        [s.name for s in specs], design, settings, label)
    bundle = registry.ModelBundle(
        booster=booster,
        calibrator=calibrator,
        features=specs,
        declarations_hash=declarations_hash(declarations),
        catalogue_hash=catalogue_hash,
        design=design,
        attrition=attrition,
        metrics=metrics,
        data_hashes=data_hashes or {"lake_digest": None, "files": {}, "note": "trained on a frame given directly, not read from the lake"},
        code=code_version(),
        params=lightgbm_params(ms, specs),
        settings=settings.model_dump(mode="json"),
        synthetic=truth is not None,
        fairness=fairness,
        drift_reference=drift_reference,
    )
    model_dir = registry.register(workspace, bundle)
    model_id = model_dir.name
    champion_before = registry.champion_id(workspace)
    promoted, decision = _gate(workspace, model_id, bundle, test, settings, promote, label)
    clock["register"] = time.perf_counter() - t
    _step(progress, "done", total, total)
    return TrainResult(
        model_id=model_id, model_dir=model_dir, design=design, metrics=metrics, attrition=attrition,
        promoted=promoted, decision=decision, champion_before=champion_before, synthetic=truth is not None,
        best_iteration=booster.current_iteration(), seconds=clock,
    )


def evaluate_all(test, specs, booster, calibrator, logistic, rules, settings: Settings, truth, label: str = LABEL) -> dict:
    """Metrics for the model, both baselines and (with truth) the oracle, all on the same test rows.

    The monthly capacity is scaled by the test share: the test rows hold only the test children,
    so flagging ``capacity x test_share`` of them per month is the same depth into the list as
    flagging ``capacity`` of the whole plan.
    """
    ms = settings.model
    y = test[label].to_numpy(float)
    month = test["as_of"].to_numpy()
    capacity = max(1, int(round(settings.scoring.capacity * ms.test_share)))
    x = feature_matrix(test, specs)
    raw = booster.predict(x, raw_score=True)
    prob = calibrator.predict(raw)
    p_true, truth_note = None, "no truth/ folder: a real plan, no oracle"
    if truth is not None:
        if ms.outcome != "acute_event" or ms.horizon_months != 6:
            truth_note = "truth/risk.parquet gives the default 6-month acute_event probability; this design predicts another outcome"
        else:
            joined = test[["person_id", "as_of"]].astype({"person_id": "string"}).merge(
                truth, left_on=["person_id", "as_of"], right_on=["person_id", "month"], how="left")
            if joined["p_true"].isna().any():
                truth_note = f"truth/risk.parquet lacks {int(joined['p_true'].isna().sum())} test rows: no oracle"
            else:
                p_true, truth_note = joined["p_true"].to_numpy(float), "oracle = p_true from truth/risk.parquet"
    scored = {
        "model": (raw, prob),
        "logistic": (lp := logistic.predict_proba(_for_sklearn(test, specs))[:, 1], lp),
        "rules": (rules.score(test), rules.predict_proba(test)),
    }
    if p_true is not None:
        scored["oracle"] = (p_true, p_true)
    out: dict = {
        name: ev.evaluate_scores(y, s, month, capacity, prob=p, p_true=p_true)
        for name, (s, p) in scored.items()
    }
    for name in out:
        out[name]["lift_curve"] = {
            f"{share:g}": ev.top_share(y, scored[name][0], share)["lift"] for share in LIFT_CURVE_SHARES
        }
    out["test_months"] = sorted(set(month.tolist()))
    out["capacity_note"] = (
        f"capacity {settings.scoring.capacity} per month for the whole plan = top {capacity} per month "
        f"of the test children ({ms.test_share:g} of children)"
    )
    out["oracle_note"] = truth_note
    if "oracle" in out:
        out["ratio_to_oracle"] = ev.ratio_to_oracle(out["model"], out["oracle"])
    return out


LIFT_CURVE_SHARES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)


def decide_promotion(challenger: float, champion: float | None, metric: str, tolerance: float,
                     force: bool = False) -> tuple[bool, str]:
    """The promotion rule: promote unless the challenger is worse than the champion by more than ``tolerance``."""
    if force:
        return True, "promoted: --promote given"
    if champion is None:
        return True, "promoted: there was no champion"
    if math.isnan(challenger):
        return False, f"kept the champion: challenger {metric} is undefined on the test months"
    if challenger >= champion - tolerance:
        return True, (f"promoted: challenger {metric} {challenger:.4f} vs champion {champion:.4f} on the same test rows "
                      f"(not lower by more than {tolerance:g})")
    return False, (f"kept the champion: challenger {metric} {challenger:.4f} is lower than the champion's "
                   f"{champion:.4f} by more than {tolerance:g} on the same test rows")


def _gate(workspace, model_id, bundle, test, settings: Settings, force: bool, label: str) -> tuple[bool, str]:
    from riskstrat import registry

    ms = settings.model
    current = registry.champion_id(workspace)
    if current == model_id:
        return True, "already the champion: this retrain produced the champion's exact model"
    metric = ms.promotion_metric
    challenger_value = bundle.metrics["model"][metric]
    champion_value = None
    if current is not None and not force:
        try:
            champion = registry.load_model(workspace, current)
        except registry.RegistryError as exc:
            return False, f"kept the champion {current} untouched: it cannot be loaded to compare ({exc}); use --promote to replace it"
        seen = set(champion.design.train_months + champion.design.tune_months + champion.design.calibration_months)
        overlap = sorted(seen & set(bundle.design.test_months))
        if overlap:
            return False, (f"kept the champion {current}: it was fitted on {', '.join(overlap)}, the challenger's test months, "
                           f"so they cannot be compared fairly; use --promote to replace it")
        try:
            champ_prob = champion.predict_proba(test)
        except (TrainError, registry.RegistryError) as exc:
            return False, f"kept the champion {current}: it cannot score the challenger's test rows ({exc}); use --promote to replace it"
        y = test[label].to_numpy(float)
        champion_value = ev.auprc(y, champ_prob) if metric == "auprc" else ev.auroc(y, champ_prob)
    promoted, reason = decide_promotion(challenger_value, champion_value, metric, ms.promotion_tolerance, force)
    if promoted:
        registry.set_champion(workspace, model_id, reason)
    return promoted, reason


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
    from riskstrat import features, labels

    return train_from_builder(
        workspace,
        # Outcomes known through as_of only: a model trained as of a past month must not learn
        # from deliveries that arrived after it, or its backtest flatters it.
        lambda month: labels.build_training_frame(
            workspace, [month], ms.outcome, settings, runout_months=ms.runout_months, known_month=as_of
        ),
        list(features.FEATURES), design, settings,
        truth=load_truth(workspace),
        data_hashes=lake_data_hashes(workspace, as_of),
        catalogue_hash=features.catalogue_hash(),
        promote=promote,
        progress=progress,
    )


def train_from_builder(workspace: Path, build_month: Callable[[str], object], declarations: Iterable,
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
        _step(progress, "building as-of months", i, len(months))
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
    _step(progress, "building as-of months", len(months), len(months))
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
    from riskstrat.design import add_months

    elig = Path(workspace) / "lake" / "eligibility"
    months = sorted(p.name.split("=", 1)[1] for p in elig.glob("delivery_month=*")) if elig.is_dir() else []
    if not months:
        return None
    return add_months(months[0], ms.lookback_months - 1)
