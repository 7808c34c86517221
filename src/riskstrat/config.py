"""One validated settings model for a workspace, and the declared model specifications.

Every command reads ``riskstrat.toml`` from the workspace folder (if present) through
:func:`load_settings`; every field has a default and a one-line meaning, so a plan can start
with no file at all and ``riskstrat config`` shows what is in force.

A model specification (``models/<name>.yaml``, one per programme plus the general acute-risk
list) declares who a list ranks, the outcome and horizon, the features, the hyperparameters and
the monthly capacity. :func:`model_specs` reads a folder of them (the shipped ``models/``, or the
plan's own folder named by ``model.specs_dir``); :meth:`Settings.for_spec` gives the settings one
model is trained and scored with: the specification's values, except where the workspace's
riskstrat.toml sets a value explicitly, which then holds for every model.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from riskstrat.core.errors import RiskstratError

CONFIG_FILE = "riskstrat.toml"
#: The model specification riskstrat trains (``models/<name>.yaml``, shipped as ``riskstrat.model_specs``).
DEFAULT_SPEC = "acute_event"


class SettingsError(RiskstratError):
    """riskstrat.toml or a model specification cannot be used; the message names the file and the key."""


def _first_error(exc: ValidationError) -> str:
    """The error a person should read first: a key that is not a field (a misspelling, which also
    leaves its field "required"), before the rest; without pydantic's labels of a union's members
    ("population.literal['all']" is read as "population")."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    members = {"literal['all']", "Population"}
    return f"{'.'.join(str(p) for p in first['loc'] if str(p) not in members)}: {first['msg']}"


class Hyperparameters(BaseModel):
    """How the booster is fitted (see ModelSettings for what each means)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_leaves: int
    max_trees: int
    learning_rate: float
    early_stopping_rounds: int
    min_child_samples: int
    # Optional, so a plan's specification written before they existed still reads (no subsampling).
    feature_fraction: float = 1.0
    bagging_fraction: float = 1.0


class Population(BaseModel):
    """Who a list ranks: the programme's eligibility rule over declared features (an ``any:`` /
    ``all:`` tree of ``{feature, op, value}``, checked against the declarations by
    :mod:`riskstrat.model.specs`), or every child when the specification says ``population: all``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    description: str
    rule: dict


class ModelSpec(BaseModel):
    """A declared model: who it ranks, what it predicts over which horizon and history, on which
    features, how it is fitted, and how many children its list takes each month."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str
    population: Literal["all"] | Population
    outcome: str
    horizon_months: int
    lookback_months: int
    features: Literal["all"] | tuple[str, ...]
    hyperparameters: Hyperparameters
    capacity: int

    @property
    def is_programme(self) -> bool:
        """A programme's list (ranks the children its rule admits), not the general list."""
        return self.population != "all"


def read_model_spec(path: Path) -> ModelSpec:
    """One specification file, checked; an error names the file and the field."""
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"{where}: not valid YAML{at} ({getattr(exc, 'problem', None) or type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: expected a mapping of fields (name, title, population, outcome, ...)")
    try:
        spec = ModelSpec.model_validate(raw)
        # The same bounds as a riskstrat.toml value: checked here so that the error names this file.
        ModelSettings.model_validate({"horizon_months": spec.horizon_months, "lookback_months": spec.lookback_months,
                                      **spec.hyperparameters.model_dump()})
        ScoringSettings.model_validate({"capacity": spec.capacity})
    except ValidationError as exc:
        raise SettingsError(f"{where}: {_first_error(exc)}") from None
    if spec.name != path.stem:
        raise SettingsError(f"{where}: name: {spec.name!r} differs from the file name; name the file {spec.name}.yaml")
    return spec


def specs_folder(workspace: Path | str | None, settings: "ModelSettings | None" = None) -> Path:
    """The folder of model specifications: ``model.specs_dir`` (relative to the workspace), or the shipped ``models/``."""
    named = settings.specs_dir if settings is not None else None
    if named:
        return Path(named) if Path(named).is_absolute() or workspace is None else Path(workspace) / named
    return Path(str(resources.files("riskstrat.model_specs")))


@cache
def _specs_in(folder: Path, stamp: tuple) -> tuple[ModelSpec, ...]:
    del stamp  # part of the cache key only: an edited file is read again
    specs = tuple(read_model_spec(p) for p in sorted(folder.glob("*.yaml")))
    if not specs:
        raise SettingsError(f"{folder}: holds no model specification (<name>.yaml)")
    return specs


def model_specs(folder: Path) -> tuple[ModelSpec, ...]:
    """Every specification in ``folder``, by file name; read again whenever a file changes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SettingsError(f"{folder}: no such folder of model specifications (model.specs_dir)")
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.yaml")))
    return _specs_in(folder, stamp)


def model_spec(name: str = DEFAULT_SPEC, folder: Path | None = None) -> ModelSpec:
    """The specification ``<name>.yaml`` of ``folder`` (default: the shipped ``models/``)."""
    folder = Path(folder) if folder is not None else specs_folder(None)
    for spec in model_specs(folder):
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in model_specs(folder))
    raise SettingsError(f"{folder / (name + '.yaml')}: no such model specification (there are: {known})")


@cache
def _default_spec() -> ModelSpec:
    # Structure only: read_model_spec's bounds check builds ModelSettings, whose defaults come from
    # here, so checking bounds here too would recurse. The shipped file's bounds are checked
    # whenever the specifications are read (model_specs).
    path = specs_folder(None) / f"{DEFAULT_SPEC}.yaml"
    return ModelSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _spec(*path: str):
    """A default read from the default model specification (a pydantic ``default_factory``)."""
    def value():
        found = _default_spec()
        for key in path:
            found = getattr(found, key)
        return found
    return value


class _Section(BaseModel):
    # A misspelt key in riskstrat.toml must fail loudly, not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(_Section):
    max_bad_row_share: float = Field(
        0.05, ge=0, le=1, description="Refuse a table's delivery when more than this share of its rows breaks row rules."
    )
    min_service_date: str = Field(
        "2000-01-01", description="Earliest service, paid or enrolment date accepted as sane (YYYY-MM-DD)."
    )
    min_rows_for_share: int = Field(
        100, ge=0, description="A table's delivery with fewer rows than this is never refused for its share of bad rows (one bad row would be a large share)."
    )
    contracts_dir: str | None = Field(
        None, description="Folder of the data contracts (<table>.yaml); empty = the data_contracts/ shipped with riskstrat."
    )
    data_docs: bool = Field(
        True, description="Build Great Expectations Data Docs (HTML) in validation/YYYY-MM/ for the newest month of each ingest run; the JSON results are always written for every delivery."
    )
    threads: int = Field(2, ge=1, description="DuckDB threads ingest may use.")
    memory_limit: str = Field(
        "2GB", description="DuckDB memory limit for ingest (at 500k members the whole ingest process peaks near 3.9 GB with 2GB); larger tables spill to disk."
    )


class ModelSettings(_Section):
    outcome: str = Field(default_factory=_spec("outcome"),
                         description="Label the model predicts: acute_event, ed_2plus, ip_admit or high_cost.")
    horizon_months: int = Field(default_factory=_spec("horizon_months"), ge=1, le=12,
                                description="Months after the as-of month in which the outcome is observed.")
    lookback_months: int = Field(default_factory=_spec("lookback_months"), ge=3, le=36,
                                 description="Months of history the features look back over.")
    specs_dir: str | None = Field(
        None, description="Folder of model specifications (<name>.yaml, one per programme and the general list); empty = the models/ shipped with riskstrat. A plan copies it to add, change or drop a list."
    )
    train_months: int = Field(
        36, ge=2, le=60,
        description="Most matured as-of months the model learns from (the latest ones); every matured month the plan has, up to this.",
    )
    seed: int = Field(20261123, description="Seed for model fitting, so a retrain on the same data gives the same model.")
    runout_months: int = Field(
        3, ge=0, le=6,
        description="Months of claims run-out after the outcome window before a label counts as matured (claims lag up to 3).",
    )
    min_train_months: int = Field(
        3, ge=1, le=36, description="Fewest matured months the judged fits learn from; a short history tests on fewer months to keep them."
    )
    test_months: int = Field(
        2, ge=1, le=6, description="Latest matured as-of months the judged fits never learn from, used to measure the model."
    )
    folds: int = Field(
        3, ge=2, le=10,
        description="Children are split into this many folds (a fixed hash); each child's test rows are scored by the fit that never saw them.",
    )
    num_leaves: int = Field(
        default_factory=_spec("hyperparameters", "num_leaves"), ge=2, le=63,
        description="Leaves per tree: SHAP cost grows with leaves; 7 scored as well as 15 on 6k- and 50k-member synthetic plans.",
    )
    max_trees: int = Field(default_factory=_spec("hyperparameters", "max_trees"), ge=10, le=2000,
                           description="Most boosting rounds; early stopping on held-out children usually stops sooner.")
    learning_rate: float = Field(
        default_factory=_spec("hyperparameters", "learning_rate"), gt=0, le=0.5,
        description="LightGBM shrinkage per tree; small enough that the tree count early stopping picks is not a coin toss.",
    )
    early_stopping_rounds: int = Field(default_factory=_spec("hyperparameters", "early_stopping_rounds"), ge=5,
                                       description="Stop when the held-out children's log-loss has not improved for this many trees.")
    min_child_samples: int = Field(default_factory=_spec("hyperparameters", "min_child_samples"), ge=1,
                                   description="Fewest children in a leaf, so leaves rest on enough events.")
    feature_fraction: float = Field(
        default_factory=_spec("hyperparameters", "feature_fraction"), gt=0, le=1,
        description="Share of features each tree may use (LightGBM feature_fraction); below 1 no single feature carries every tree.",
    )
    bagging_fraction: float = Field(
        default_factory=_spec("hyperparameters", "bagging_fraction"), gt=0, le=1,
        description="Share of child-months each tree learns from (LightGBM bagging, redrawn every tree); below 1 also makes each tree cheaper.",
    )
    judging_max_rows: int = Field(
        600_000, ge=10_000,
        description="Most child-months a judging fit (a fold's, or a learning-curve point's) learns from: past this it keeps every event and a fixed random share of the other child-months, weighted by the inverse of that share. The registered model always learns from every child-month.",
    )
    stopping_max_rows: int = Field(
        200_000, ge=1_000,
        description="Most child-months a judging fit's early stopping scores every round: past this, every event and a fixed random share of the others, weighted as for judging_max_rows. On a 500k-member plan scoring all 900k stopping rows every round took half of each judging fit's time.",
    )
    training_frame_max_mb: float = Field(
        2048, gt=0,
        description="Most memory the stacked training frame (every as-of month's features and labels, held on this one machine whatever the engine) may take. Past it a fixed share of children (a hash of person_id, the same every month) is kept, the share that fits; the attrition and the card give the arithmetic. 500k members take about 1.2 GB.",
    )
    learning_curve_shares: tuple[float, ...] = Field(
        (0.125, 0.25, 0.5), description="Shares of the first fold's training children refitted for the learning curve (quality against training children, in the card); a share its fit would down-sample (past judging_max_rows) is not refitted; empty = none."
    )
    num_threads: int = Field(2, ge=1, description="Threads for LightGBM; fixed so a retrain gives the same bytes.")
    baseline_max_rows: int = Field(
        200_000, ge=1000, description="Training rows (a fixed random sample) the logistic-regression baseline and the drift reference are drawn from."
    )
    rules_use_features: tuple[str, ...] = Field(
        ("ed_visits_12m", "ip_admits_12m"),
        description="Rules baseline: prior-use features (ED, inpatient) from the feature declarations; any above 0 counts.",
    )
    rules_bh_features: tuple[str, ...] = Field(
        ("bh_condition_groups_12m",), description="Rules baseline: behavioural-health diagnosis features; any above 0 counts."
    )
    promotion_metric: Literal["auprc", "auroc"] = Field(
        "auprc", description="Metric on the challenger's test rows that decides whether it replaces the champion."
    )
    promotion_tolerance: float = Field(
        0.01, ge=0, le=0.2, description="A challenger is promoted unless its promotion metric is lower than the champion's by more than this."
    )


class ScoringSettings(_Section):
    capacity: int = Field(default_factory=_spec("capacity"), ge=1,
                          description="Children the outreach team can take on per month: the top this many are flagged.")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="Also flag every child whose calibrated risk is at or above this, if set."
    )
    suppress_days: int = Field(
        180, ge=0, description="Days a decline or unable-to-reach status keeps a child off the worklist."
    )
    top_reasons: int = Field(3, ge=1, le=10, description="Plain-language reasons listed per flagged child (features that raise risk).")
    shap_summary_rows: int = Field(
        2000, ge=100, description="Children (a fixed sample) whose SHAP values make the month's global summary in the report."
    )


class ScheduleSettings(_Section):
    cron: str = Field("0 6 5 * *", description="When the monthly flow runs (cron, plan's time zone): 06:00 on the 5th.")
    timezone: str = Field("America/New_York", description="Time zone of the cron schedule.")
    retrain_every_months: int = Field(3, ge=1, description="Retrain the model when the champion is this many months old.")


class AuditSettings(_Section):
    psi_warn: float = Field(
        0.10, gt=0, description="PSI at or above which a feature's or the score's shift is 'moderate' and warned about in the report and the Prefect artifact."
    )
    psi_alert: float = Field(0.25, gt=0, description="PSI at or above which a shift is 'major'.")
    retrain_on_drift: bool = Field(
        True, description="Let drift against the champion's training data trigger a retrain in the monthly job (beside schedule.retrain_every_months)."
    )
    retrain_score_psi: float = Field(
        0.25, gt=0, description="Drift trigger: retrain when the score's PSI against the champion's training data is at least this, raised for a score that moves more between training months in the proportion its major-shift level is (the drift line names the level used)."
    )
    retrain_feature_share: float = Field(
        0.25, gt=0, le=1, description="Drift trigger: retrain when at least this share of the model's features are at or above their major-shift level (audit.psi_alert, or higher for a feature that moves more between training months)."
    )

    @model_validator(mode="after")
    def _bands_in_order(self) -> "AuditSettings":
        if self.psi_alert <= self.psi_warn:
            raise ValueError(f"psi_alert ({self.psi_alert:g}) must be above psi_warn ({self.psi_warn:g})")
        return self


class EngineSettings(_Section):
    name: Literal["duckdb", "spark"] = Field(
        "duckdb", description="Where features, labels and scoring run: duckdb on this machine, or spark (riskstrat[spark]) for a plan one machine cannot hold. Ingest and the fitting stay on one machine."
    )
    spark_master: str = Field(
        "local[*]", description="Spark master URL (spark.master): local[*] tries Spark on this machine; a plan gives its cluster's URL."
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="More Spark configuration, key to value (spark.executor.memory, spark.sql.shuffle.partitions, ...)."
    )


class OutreachSettings(_Section):
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the outreach log (e.g. postgresql+psycopg://host/db); empty: SQLite in W/outreach/outreach.sqlite."
    )
    in_outreach_days: int = Field(
        90, ge=1, description="A child whose latest outreach attempt (attempted or reached) is this recent is 'in outreach': continuing on next month's list."
    )


class AppSettings(_Section):
    host: str = Field("127.0.0.1", description="Address the web worklist listens on (riskstrat app); 127.0.0.1 keeps it on this machine.")
    port: int = Field(8765, ge=1, le=65535, description="Port the web worklist listens on.")
    idle_timeout_minutes: int = Field(15, ge=1, le=720, description="A session unused this long must log in again.")
    max_failed_logins: int = Field(5, ge=1, description="Failed logins in a row after which an account is locked.")
    lockout_minutes: int = Field(15, ge=1, description="How long a locked account stays locked.")


class EvaluationSettings(_Section):
    min_enrolled: int = Field(
        30, ge=2, description="Fewest enrolled children a programme evaluation accepts, before and after matching them to comparisons; below it the estimates mean nothing."
    )
    pre_months: int = Field(12, ge=3, le=24, description="Months before enrolment each child is followed (the pre-period).")
    post_months: tuple[int, ...] = Field(
        (6, 12), min_length=1, description="Follow-up windows after enrolment, in months; each gets its own estimate."
    )
    comparisons_per_child: int = Field(
        3, ge=1, le=10, description="Comparison children matched to each enrolled child (fewer when fewer are close enough)."
    )
    caliper: float = Field(
        0.2, gt=0, le=1, description="Widest gap allowed between a child and their comparison in the log-odds of the propensity and of the score, in standard deviations of each."
    )
    balance_limit: float = Field(
        0.1, gt=0, description="Standardised mean difference at or above which a matched covariate is reported as unbalanced."
    )

    @field_validator("post_months")
    @classmethod
    def _windows(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= k <= 24 for k in value):
            raise ValueError("each follow-up window must be 1 to 24 months")
        return tuple(sorted(set(value)))


class Settings(_Section):
    """Everything a workspace can configure; sections mirror the pipeline stages."""

    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Landing to lake.")
    model: ModelSettings = Field(default_factory=ModelSettings, description="Training and labels.")
    scoring: ScoringSettings = Field(default_factory=ScoringSettings, description="Flags and worklist.")
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings, description="The monthly job.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Drift and fairness monitoring.")
    engine: EngineSettings = Field(default_factory=EngineSettings, description="Where the heavy stages run.")
    outreach: OutreachSettings = Field(default_factory=OutreachSettings, description="The outreach log.")
    app: AppSettings = Field(default_factory=AppSettings, description="The web worklist (riskstrat app).")
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings,
                                           description="Programme evaluation (riskstrat evaluate).")

    def for_spec(self, spec: ModelSpec) -> "Settings":
        """The settings one model is trained and scored with: the specification's outcome, horizon,
        look-back, hyperparameters and capacity, except a value the workspace set explicitly."""
        from_spec = {"outcome": spec.outcome, "horizon_months": spec.horizon_months,
                     "lookback_months": spec.lookback_months, **spec.hyperparameters.model_dump()}
        model = _keep_given(self.model, from_spec)
        scoring = _keep_given(self.scoring, {"capacity": spec.capacity})
        return self.model_copy(update={"model": model, "scoring": scoring})

    def on_engine(self, name: str | None) -> "Settings":
        """These settings with ``engine.name`` set to ``name`` (a command's ``--engine``); None keeps riskstrat.toml's."""
        if name is None:
            return self
        try:
            engine = EngineSettings.model_validate({**self.engine.model_dump(), "name": name})
        except ValidationError as exc:
            raise SettingsError(f"--engine: {_first_error(exc)}") from None
        return self.model_copy(update={"engine": engine})


def _keep_given(section: BaseModel, values: dict) -> BaseModel:
    """``section`` with ``values`` where the workspace did not set the field itself; the copy still
    remembers only what the workspace set, so the settings of one spec never leak into the next."""
    given = set(section.model_fields_set)
    copy = section.model_copy(update={k: v for k, v in values.items() if k not in given})
    object.__setattr__(copy, "__pydantic_fields_set__", given)
    return copy


def load_settings(workspace: Path) -> Settings:
    """Read ``workspace/riskstrat.toml`` if it exists, else return the defaults."""
    path = Path(workspace) / CONFIG_FILE
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"{path}: {_first_error(exc)}") from None


def describe_settings(settings: Settings) -> list[tuple[str, object, str]]:
    """(key, value, meaning) for every field, for ``riskstrat config`` and the docs."""
    rows = []
    for section_name, section_field in Settings.model_fields.items():
        section = getattr(settings, section_name)
        for name, field in type(section).model_fields.items():
            rows.append((f"{section_name}.{name}", getattr(section, name), field.description or ""))
    return rows
