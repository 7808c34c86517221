"""What the monthly job runs, and on what: its decisions as plain functions.

- which month a scheduled run takes (:func:`latest_month`) and which ingest calls it makes;
- whether the month's delivery may be scored (:func:`check_delivery`), from the ingest ledger;
- whether to retrain: the champion's age, its drift, or an edit of its specification file
  (:func:`retrain_due`, :func:`champion_drift`);
- whether training and scoring are due or already done with the same inputs (:func:`plan_train`,
  :func:`plan_score`);
- which errors are worth a retry (:func:`transient`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from riskstrat.audit.month import drift_decision, scored_frame, training_drift
from riskstrat.config import DEFAULT_SPEC, Settings
from riskstrat.core.months import add_months, months_apart
from riskstrat.core.workspace import LANDING, VALIDATION, landing_months, output_dir
from riskstrat.features.store import stored_features
from riskstrat.ingest import read_deliveries
from riskstrat.ingest.contracts import TABLES, load_contracts
from riskstrat.jobs.errors import DeliveryRefused, MonthlyError
from riskstrat.jobs.steps import score_inputs, step_is_current, step_record, train_inputs
from riskstrat.model import registry
from riskstrat.model.specs import load_specs, spec_changes
from riskstrat.scoring.month import list_model_ids


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, the reason in one sentence, and the champion it was judged against."""

    due: bool
    reason: str
    champion: str | None = None
    champion_as_of: str | None = None


def retrain_decision(month: str, champion: str | None, champion_as_of: str | None, every_months: int,
                     drift: str | None = None, changed: str | None = None) -> RetrainDecision:
    """Whether to retrain before scoring ``month``, and why, in one sentence.

    Retrain when there is no champion, when ``changed`` says the specification file was edited in
    what decides the model since the champion learned (its outcome, population, features ...),
    when the champion's as-of month is ``every_months`` or more months before ``month``, or when
    ``drift`` — the numbers of a drift that calls for a retrain
    (:func:`riskstrat.audit.month.drift_decision`), None when there is none — says the population
    moved. A champion newer than the month being run is kept: retraining on less data than it saw
    would only make a worse model.
    """
    if champion is None or champion_as_of is None:
        return RetrainDecision(True, "no champion model yet")
    age = months_apart(champion_as_of, month)
    if age < 0:
        return RetrainDecision(False, f"champion {champion} (as of {champion_as_of}) is newer than {month}; kept",
                               champion, champion_as_of)
    if changed:
        return RetrainDecision(True, f"the specification changed since champion {champion} learned: {changed}",
                               champion, champion_as_of)
    if drift:
        return RetrainDecision(True, f"drift since champion {champion} (as of {champion_as_of}): {drift}",
                               champion, champion_as_of)
    if age >= every_months:
        return RetrainDecision(True, f"champion {champion} is {age} months old (retrain every {every_months})",
                               champion, champion_as_of)
    return RetrainDecision(False, f"champion {champion} is {age} month{'s' if age != 1 else ''} old "
                                  f"(retrain every {every_months})", champion, champion_as_of)


def retrain_due(workspace: Path | str, month: str, settings: Settings, drift: str | None = None,
                spec: str = DEFAULT_SPEC) -> RetrainDecision:
    """:func:`retrain_decision` for the current champion of ``spec`` and ``schedule.retrain_every_months``,
    with what changed in ``spec``'s file since the champion learned."""
    champion = registry.champion_id(Path(workspace), spec)
    as_of = registry.model_as_of(champion) if champion else None
    changed = None
    if champion:
        current = load_specs(workspace, settings, [spec])[0]
        fields = spec_changes(registry.trained_specification(Path(workspace), champion), current.spec, settings)
        changed = f"{current.path.name}: {', '.join(fields)}" if fields else None
    return retrain_decision(month, champion, as_of, settings.schedule.retrain_every_months, drift, changed)


def retrains_due(workspace: Path | str, month: str, settings: Settings,
                 drift: dict[str, str] | None = None) -> dict[str, RetrainDecision]:
    """:func:`retrain_due` for every specification in force; ``drift`` maps a specification to its drift sentence."""
    drift = drift or {}
    return {s.name: retrain_due(workspace, month, settings, drift.get(s.name), s.name)
            for s in load_specs(workspace, settings)}


@dataclass(frozen=True)
class DriftCheck:
    """One champion's drift before training: the decision and the sentence with its numbers."""

    spec: str
    model_id: str
    due: bool
    reason: str


@dataclass
class DriftChecks:
    """Every champion's drift for the month.

    ``features`` is the month's feature table the checks were computed on, so that scoring the
    same month can use it instead of building it again (20-40 s at state scale). It lives only as
    long as the caller keeps it: never written anywhere, and left out of repr and comparisons.
    """

    checks: dict[str, DriftCheck]
    features: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def due(self) -> dict[str, str]:
        """Specification -> drift sentence, for the champions whose drift calls for a retrain."""
        return {spec: c.reason for spec, c in self.checks.items() if c.due}

    def note(self) -> str:
        """One line for the run's summary: each list's score PSI and its decision (the full
        sentences are in the retrain reason when a list is retrained)."""
        return "; ".join(f"{c.spec} {c.model_id}: {c.reason.split(';')[0]}{' - retrain' if c.due else ''}"
                         for c in self.checks.values())


def champion_drift(workspace: Path | str, month: str, settings, specs: list[str] | None = None) -> DriftChecks | None:
    """PSI of ``month``'s features and each champion's score against its training data; None when there is nothing to compare.

    ``specs``: the specifications to check (default: every one in force). There is nothing to
    compare without a champion, or with a champion registered before drift references were
    stored; and nothing to decide when drift may not trigger a retrain (``audit.retrain_on_drift``
    off), so the month's features are not built for it.
    """
    if not settings.audit.retrain_on_drift:
        return None
    in_force = [s for s in load_specs(workspace, settings) if specs is None or s.name in specs]
    models = []
    for spec in in_force:
        champion = registry.champion_id(Path(workspace), spec.name)
        if champion is not None:
            model = registry.load_model(Path(workspace), champion)
            if model.drift_reference:
                models.append((spec, model))
    if not models:
        return None
    features = stored_features(workspace, month, settings)
    checks = {}
    for spec, model in models:
        # A list is compared on its own children, as its reference was built from them.
        rows = features if spec.population is None else features.loc[spec.population.test(features)]
        table = training_drift(model, scored_frame(model, rows, model.predict_proba(rows)), settings, as_of=month)
        due, reason = drift_decision(table, settings)
        checks[spec.name] = DriftCheck(spec.name, model.model_id, due, reason)
    return DriftChecks(checks, features)


def months_to_ingest(workspace: Path | str, month: str) -> list[str]:
    """Landing months up to and including ``month``, oldest first (a month's run never reads later deliveries)."""
    return [m for m in landing_months(workspace) if m <= month]


def delivery_problems(workspace: Path | str, month: str, settings: Settings, landing: bool = True) -> list[str]:
    """One line per table of ``month``'s delivery that was refused, failed, or is missing but required.

    Read from the lake's delivery ledger rather than from one ingest report, so a rerun that
    skips an unchanged delivery still stops on the same reason. ``landing``: the delivery folder
    must still be there (the monthly job); without it (scoring a month already in the lake) only
    the ledger is read, and a month it does not hold at all is left to the scoring's own check.
    """
    if landing and not (Path(workspace) / LANDING / month).is_dir():
        return [f"{Path(workspace) / LANDING / month}: no delivery for {month}"]
    ledger = read_deliveries(workspace)
    rows = [r for r in ledger if r["delivery_month"] == month]
    if not rows and not landing:
        return []
    earlier = sorted({r["delivery_month"] for r in ledger if r["delivery_month"] < month})
    before = add_months(month, -1)
    if earlier and earlier[-1] != before:
        # Claims and ED visits come incrementally: a month never delivered is missing from every
        # later month's features, without a word, until it is.
        return [f"landing/{before}: no delivery for {before} in the lake (the last is {earlier[-1]}); "
                f"ingest the months between before {month}"]
    problems = []
    for r in rows:
        if r["status"] in ("refused", "failed"):
            problems.append(f"landing/{month}/{r['file']}: {r['status']} [{r['rule']}] {r['message']}")
    delivered = {r["table"] for r in rows}
    contracts = load_contracts(settings.ingest.contracts_dir)
    for table in TABLES:
        if table not in delivered and not contracts[table].optional:
            problems.append(f"landing/{month}: no {table} file, which every delivery must have")
    return problems


def ledger_counts(workspace: Path | str, months: Iterable[str]) -> list[dict]:
    """Per table and delivery month: status, rows in, accepted, quarantined (no member data)."""
    wanted = set(months)
    keep = ("delivery_month", "table", "status", "rows_in", "rows_accepted", "rows_quarantined", "rows_warned", "rule",
            "ignored_columns")
    return [{k: r.get(k) for k in keep} for r in read_deliveries(workspace) if r["delivery_month"] in wanted]


def data_docs_index(workspace: Path | str, month: str) -> Path | None:
    """The Great Expectations Data Docs page of the month's validation, if ingest built one."""
    root = Path(workspace) / VALIDATION / month
    pages = sorted(root.rglob("index.html")) if root.is_dir() else []
    return pages[0] if pages else None


def transient(exc: BaseException) -> bool:
    """Whether retrying may help: file-system and I/O hiccups yes; bad data, settings or code no.

    A missing file stays missing, and a refused delivery stays refused until someone redelivers,
    so those fail at once with their reason instead of after minutes of back-off.
    """
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, MonthlyError)):
        return False
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    return isinstance(exc, duckdb.IOException)


def latest_month(workspace: Path | str) -> str:
    """The newest delivery month in ``landing/`` (what a scheduled run processes by default)."""
    months = landing_months(workspace)
    if not months:
        raise MonthlyError(f"{Path(workspace) / LANDING}: no delivery folders (landing/YYYY-MM/)")
    return months[-1]


def ingest_batches(workspace: Path | str, month: str) -> list[str | None]:
    """The ``month`` arguments of the ingest calls a run of ``month`` makes, in order.

    Ingest is idempotent per month, but each call reloads the earlier months, so when ``month``
    is the newest delivery (the scheduled case) one call ingests everything new at once; an
    older month is brought up one month at a time so that no later delivery is read.
    """
    every = landing_months(workspace)
    if not every or month not in every:
        return [month]  # ingest names the missing folder
    if every[-1] == month:
        return [None]
    return [m for m in every if m <= month]


def check_delivery(workspace: Path | str, month: str, settings: Settings, landing: bool = True) -> None:
    """Raise :class:`DeliveryRefused` with the delivery's reason when ``month`` cannot be scored
    (``landing``: as :func:`delivery_problems`)."""
    problems = delivery_problems(workspace, month, settings, landing)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DeliveryRefused(f"delivery {month} refused: {problems[0]}{more}")


@dataclass(frozen=True)
class StepPlan:
    """Whether a step runs, why, and the fingerprint of its inputs to record when it finishes."""

    step: str
    run: bool
    reason: str
    inputs: str = ""
    outputs: tuple[Path, ...] = ()
    #: train: the specifications to train; score: specification -> the model it scores with.
    specs: tuple[str, ...] = ()
    model_ids: dict[str, str] = field(default_factory=dict)


def plan_train(workspace: Path | str, month: str, settings: Settings, drift: dict[str, str] | None = None) -> StepPlan:
    """Train the specifications whose retraining is due, unless a finished training read the same inputs.

    ``drift`` (specification -> sentence) only decides *whether* to train; what training reads
    (and so whether an identical training already ran) is the lake, the specifications, the
    model settings and the code, as without drift.
    """
    decisions = retrains_due(workspace, month, settings, drift)
    due = tuple(spec for spec, d in decisions.items() if d.due)
    reason = "; ".join(f"{spec}: {d.reason}" for spec, d in decisions.items())
    if not due:
        return StepPlan("train", False, reason)
    inputs = train_inputs(workspace, month, settings)
    if step_is_current(workspace, month, "train", inputs):
        before = (step_record(workspace, month, "train") or {}).get("detail", {})
        return StepPlan("train", False, f"already trained on the same data ({before.get('decision', 'no change')})",
                        inputs)
    return StepPlan("train", True, reason, inputs, specs=due)


def plan_score(workspace: Path | str, month: str, settings: Settings, model_id: str | None = None) -> StepPlan:
    """Score unless ``outputs/month`` was published from the same lake, models, settings and code, and is untouched.

    ``model_id`` replaces its specification's champion; every other list scores with its champion.
    """
    model_ids = list_model_ids(Path(workspace), load_specs(workspace, settings), model_id)
    inputs = score_inputs(workspace, month, settings, model_ids)
    out = (output_dir(workspace, month),)
    named = ", ".join(f"{spec} {mid}" for spec, mid in model_ids.items()) or "no champion"
    if step_is_current(workspace, month, "score", inputs):
        return StepPlan("score", False, "outputs unchanged: same lake, models, settings and code", inputs, out,
                        model_ids=model_ids)
    return StepPlan("score", True, f"scoring with {named}", inputs, out, model_ids=model_ids)
