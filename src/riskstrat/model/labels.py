"""Outcome labels for as-of month T, observed in T+1 … T+H (H = ``model.horizon_months``, 6).

The outcome window is read with everything the lake knows later (the run-out): claims and ADT
messages delivered up to the latest delivery, through the same concept SQL the features use
(``ed_visits``, ``bh_ed_visits``, ``inpatient_stays``, ``paid_amounts``), so an ED visit means
the same thing as a label and as a feature.

Outcomes (:data:`OUTCOMES`) are declared once, in ``outcomes.yaml`` beside this module: each a
rule over the window's counts (``acute_event``, ``bh_crisis`` for Stronger Together,
``cares_acute`` for CARES, ...), or the top share of paid amount (``high_cost``, kept to compare).

Children who leave the plan in the window (disenrolment or death; read from each month's own
eligibility snapshot): kept when the outcome was observed before they left, dropped otherwise
— their follow-up is incomplete, so "no event" would be a guess. This is the
``includeAllOutcomes`` choice of OHDSI PatientLevelPrediction. Every step is counted in the
attrition table.

A month is *matured* when the lake holds deliveries through T + H + run-out (default 3 months,
the claims lag of inputs.md); :func:`build_training_frame` refuses months that are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache
from importlib import resources
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from riskstrat.config import Settings
from riskstrat.core.children import child_hash
from riskstrat.core.errors import RiskstratError
from riskstrat.core.fingerprint import lake_fingerprint
from riskstrat.core.months import add_months, check_month, last_matured_month
from riskstrat.core.progress import Progress, tick
from riskstrat.features import feature_names
from riskstrat.features.build import open_lake, population_attrition
from riskstrat.features.concept_sql import (
    concept_order,
    materialise,
    reads_as_of,
    register_codesets,
    set_params,
)
from riskstrat.features.spark import SparkConcepts, engine_session
from riskstrat.features.store import store_months, stored_features
from riskstrat.lake import latest_delivery

OUTCOMES_FILE = "outcomes.yaml"
#: What the window's counts are (concepts/outcomes.sql, and the concepts of :data:`_COUNTED_APART`); an
#: outcome's rule may read these.
WINDOW_COUNTS = ("ed_visits", "bh_ed_visits", "ip_admits", "psych_ip_admits", "self_harm_claims", "paid")


class LabelError(RiskstratError):
    """Outcomes cannot be labelled as asked; the message names the month or outcome and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CountAtLeast(_Strict):
    count: str
    at_least: int = Field(ge=1)

    @model_validator(mode="after")
    def _known_count(self) -> "CountAtLeast":
        if self.count not in WINDOW_COUNTS:
            raise ValueError(f"count {self.count!r} is not one of {', '.join(WINDOW_COUNTS)}")
        return self


class TopShare(_Strict):
    quantity: str
    share: float = Field(gt=0, lt=1)


class Outcome(_Strict):
    """One declared outcome: a child has it when any count reaches its level, or (``top_share``)
    when the quantity is in that top share of the as-of population and above 0."""

    name: str
    description: str
    need: str
    any: tuple[CountAtLeast, ...] = ()
    top_share: TopShare | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> "Outcome":
        if bool(self.any) == (self.top_share is not None):
            raise ValueError("give exactly one rule: any: (counts) or top_share:")
        return self

    def counts_read(self) -> frozenset[str]:
        """The window counts (:data:`WINDOW_COUNTS`) its rule reads."""
        if self.top_share is not None:
            return frozenset({self.top_share.quantity})
        return frozenset(rule.count for rule in self.any)

    def label(self, counts: pd.DataFrame) -> pd.Series:
        """0/1 per row of the window counts."""
        if self.top_share is not None:
            q = counts[self.top_share.quantity]
            cut = q.quantile(1 - self.top_share.share) if len(q) else 0.0
            hit = (q >= cut) & (q > 0)
        else:
            hit = pd.Series(False, index=counts.index)
            for rule in self.any:
                hit |= counts[rule.count] >= rule.at_least
        return hit.astype("int8")


@cache
def declared_outcomes() -> dict[str, Outcome]:
    """The outcomes of ``outcomes.yaml``, by name; a bad entry is refused naming the file and the field."""
    where = f"riskstrat/model/{OUTCOMES_FILE}"
    raw = yaml.safe_load(resources.files("riskstrat.model").joinpath(OUTCOMES_FILE).read_text(encoding="utf-8"))
    out: dict[str, Outcome] = {}
    for i, entry in enumerate(raw["outcomes"]):
        try:
            outcome = Outcome.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise LabelError(f"{where}: outcomes[{i}]{'.' + field if field else ''}: {first['msg']}") from None
        if outcome.name in out:
            raise LabelError(f"{where}: outcomes[{i}].name: {outcome.name!r} is declared twice")
        out[outcome.name] = outcome
    return out


#: Outcome name -> its one-line definition, in declaration order.
OUTCOMES = {name: o.description for name, o in declared_outcomes().items()}


class TrainingFrame(NamedTuple):
    """Stacked as-of months: ``frame`` (person_id, as_of, features…, label), its ``attrition``
    (as_of, step, children) and ``matrix``, the features as one C-ordered float32 array (a row per
    child-month, :func:`~riskstrat.features.feature_names` in order) whose columns the frame's
    feature columns are views on: the array LightGBM reads, so training need not copy it."""

    frame: pd.DataFrame
    attrition: pd.DataFrame
    matrix: np.ndarray


def _known_month(con: duckdb.DuckDBPyConnection, known_month: str | None) -> str:
    latest = latest_delivery(con)
    if known_month is None:
        return latest
    check_month(known_month, "known_month")
    if known_month > latest:
        raise LabelError(f"outcomes known through {known_month} were asked for; the lake has deliveries through {latest}")
    return known_month


def check_matured(as_of: str, latest: str, horizon: int, runout_months: int) -> None:
    """Refuse an as-of month whose outcome window and claims run-out are not yet delivered."""
    if as_of > last_matured_month(latest, horizon, runout_months):
        needed = add_months(as_of, horizon + runout_months)
        raise LabelError(
            f"as-of month {as_of} has not matured: its {horizon}-month outcome window plus {runout_months} "
            f"months of run-out needs deliveries through {needed}, the lake has them through {latest}"
        )


def _labels(counts: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    declared = declared_outcomes()
    return pd.DataFrame({name: declared[name].label(counts) for name in outcomes}, index=counts.index)


#: Window counts that ``concepts/outcomes.sql`` leaves out, each the concept (one row per child with
#: that column) that gives it: paid is read by a cost outcome only, and needs the pharmacy fills.
_COUNTED_APART = {"paid": "outcome_paid"}


def _count_query(outcomes: Sequence[str]) -> tuple[list[str], str]:
    """The concepts that hold ``outcomes``' window counts, and the query that reads the counts from them.

    A count kept apart (:data:`_COUNTED_APART`) is built only when one of ``outcomes`` reads it:
    training the lists of need never builds what a cost label alone needs (on a 500k-member plan,
    the paid amounts and every pharmacy fill of the range, 6-8 s).
    """
    read = frozenset().union(*(declared_outcomes()[name].counts_read() for name in outcomes))
    apart = [(count, concept) for count, concept in _COUNTED_APART.items() if count in read]
    columns = "".join(f", COALESCE({concept}.{count}, 0) AS {count}" for count, concept in apart)
    joins = "".join(f"\nLEFT JOIN {concept} ON {concept}.person_id = o.person_id" for _, concept in apart)
    query = f"SELECT o.*{columns}\nFROM outcomes AS o{joins}\nORDER BY o.person_id"
    return ["outcomes", *(concept for _, concept in apart)], query


def _window_counts(con: duckdb.DuckDBPyConnection, workspace, months: Sequence[str], latest: str, horizon: int,
                   settings: Settings, outcomes: Sequence[str]) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(as-of month, window counts and ``outcomes``' labels, population steps) for each of ``months``,
    in order.

    The outcome events (ED visits, stays, diagnoses; paid amounts when one of ``outcomes`` reads
    them) are read once, as known at ``latest``, over every month's outcome window together; per
    month only its population, their follow-up and the counts in its window are computed. Events
    are read from the first as-of month on, a month before its window opens
    (``concepts/outcomes.sql`` says why), so a month's counts are the same whether it is labelled
    alone or with others.

    When ``settings.engine`` is spark the same SQL runs on Spark over ``workspace``'s lake
    (:class:`~riskstrat.features.spark.SparkConcepts`); ``con`` still writes each month's parameters.
    """
    months = sorted(months)
    register_codesets(con)
    on_spark = _on_spark(workspace, con, settings)
    wanted, sql = _count_query(outcomes)
    shared = [c for c in concept_order(wanted) if not reads_as_of(c)]
    for i, month in enumerate(months):
        set_params(con, as_of=month, known_month=latest, first_month=months[0],
                   last_month=add_months(months[-1], horizon),
                   outcome_months=(add_months(month, 1), add_months(month, horizon)))
        reuse = shared if i else ()
        if on_spark is None:
            materialise(con, wanted, reuse=reuse)
            counts = con.execute(sql).df()
            steps = population_attrition(con)
        else:
            on_spark.use_params(con)
            on_spark.materialise(wanted, reuse=reuse)
            counts = on_spark.query(sql).toPandas()
            steps = on_spark.population_attrition()
        counts["person_id"] = counts["person_id"].astype("string")
        counts = pd.concat([counts, _labels(counts, outcomes)], axis=1).reset_index(drop=True)
        yield month, counts, pd.DataFrame(steps, columns=["step", "children"])


def _on_spark(workspace, con: duckdb.DuckDBPyConnection, settings: Settings):
    """The concept SQL on Spark over ``workspace``'s lake when ``settings.engine`` says so, else None."""
    spark = engine_session(settings)
    if spark is None:
        return None
    if isinstance(workspace, duckdb.DuckDBPyConnection):
        raise LabelError("labels on Spark read the lake's files: give the workspace, not a DuckDB connection")
    return SparkConcepts(spark, workspace, con)


def build_labels(workspace_or_connection, as_of: str, settings: Settings | None = None, *,
                 runout_months: int | None = None,
                 known_month: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes for the as-of population of ``as_of``: (labels, attrition).

    ``known_month`` is the last delivery the outcomes may use (default: the lake's latest). A
    model trained "as of" a month passes that month, so a backtest never learns from
    deliveries that arrived after it. ``runout_months`` defaults to ``model.runout_months``.

    ``labels``: one row per child of the population (before attrition) with the counts in the
    window (:data:`WINDOW_COUNTS`), ``months_observed`` and a 0/1 column per outcome of
    :data:`OUTCOMES`. ``attrition``: the population steps (step, children).
    """
    check_month(as_of, "as_of")
    settings = settings or Settings()
    horizon = settings.model.horizon_months
    runout_months = settings.model.runout_months if runout_months is None else runout_months
    con = open_lake(workspace_or_connection)
    try:
        latest = _known_month(con, known_month)
        check_matured(as_of, latest, horizon, runout_months)
        _, counts, attrition = next(_window_counts(con, workspace_or_connection, [as_of], latest, horizon, settings,
                                                   list(OUTCOMES)))
    finally:
        con.close()  # our own connection, or our cursor on the caller's (theirs stays open)
    return counts, attrition


def apply_follow_up_rule(labels: pd.DataFrame, outcome: str, horizon: int) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Keep children followed the whole window, or who had the outcome before leaving; count each step."""
    full = labels["months_observed"] >= horizon
    event = labels[outcome] == 1
    kept = labels[full | event]
    steps = [
        (f"covered all {horizon} outcome months", int(full.sum())),
        ("left the plan in the window after the outcome (kept)", int((~full & event).sum())),
        ("left the plan in the window without the outcome (dropped: follow-up incomplete)", int((~full & ~event).sum())),
        ("children in the training frame for this month", len(kept)),
    ]
    return kept, steps


#: Salt of the memory sample's child hash: not the fold split's, so a sample keeps every fold.
_SAMPLE_SALT = "riskstrat-memory-sample-v1"


class MemorySample(NamedTuple):
    """Which children the stacked training frame keeps so that it fits ``model.training_frame_max_mb``.

    Whatever the engine, the fitting is done on one machine, so the frame must fit there. The
    frame's size is measured on the first non-empty as-of month's rows as built (features as
    float32, labels, ids) and multiplied by the rows every month will have; past the budget a share
    of children is kept by a fixed hash of person_id, every month alike, so each kept child keeps
    their whole history and the folds stay balanced.
    """

    bytes_per_row: float
    rows: int
    needed_mb: float
    budget_mb: float
    share: float
    hashes: dict  # person_id -> hash, so a child is hashed once however many months they appear in

    @classmethod
    def of(cls, first: pd.DataFrame, rows: int, budget_mb: float) -> "MemorySample":
        per_row = float(first.memory_usage(deep=True, index=False).sum()) / len(first)
        needed = per_row * rows / 2**20
        return cls(per_row, rows, needed, budget_mb, 1.0 if needed <= budget_mb else budget_mb / needed, {})

    def keeps(self, person_ids: pd.Series) -> np.ndarray:
        return child_hash(person_ids, _SAMPLE_SALT, self.hashes) < self.share

    def step(self) -> str:
        """The attrition step, with the arithmetic (the same text every month, so the card sums them)."""
        return (f"kept by the memory sample: {self.share:.1%} of children (a fixed hash of person_id), since "
                f"{self.rows:,} child-months x {self.bytes_per_row:,.0f} bytes = {_mb(self.needed_mb)} MB "
                f"would pass model.training_frame_max_mb = {_mb(self.budget_mb)} MB")


def _mb(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def build_training_frame(workspace, as_of_months: list[str], outcome: str | Sequence[str] = "acute_event",
                         settings: Settings | None = None, *,
                         runout_months: int | None = None,
                         known_month: str | None = None,
                         progress: Progress | None = None) -> TrainingFrame:
    """Stack as-of months: columns person_id, as_of, the features (declaration order, float32 as a
    model reads them), then the labels; the features are views on the returned ``matrix``.

    One outcome (a name): its label is column ``label`` and the rows the follow-up rule drops are
    left out. Several outcomes (a list), for models that share one frame: a column per outcome,
    NaN where that outcome's follow-up rule drops the row. The attrition's ``outcome`` names the
    outcome a follow-up step belongs to (None: a population step, or the one outcome).

    Each month's features come from the feature store (:mod:`riskstrat.features.store`: built
    once per month and lake); the outcomes of every month are read in one pass.

    Refuses (:class:`LabelError`, :class:`~riskstrat.core.months.MonthError`) an unknown outcome, a
    malformed month, or a month whose outcome window and run-out are not yet in the lake — before
    building anything. ``runout_months`` defaults to ``model.runout_months``.
    """
    single = isinstance(outcome, str)
    outcomes = [outcome] if single else list(outcome)
    unknown = [o for o in outcomes if o not in OUTCOMES]
    if unknown or not outcomes:
        raise LabelError(f"unknown outcome {', '.join(map(repr, unknown)) or 'none given'}; choose from {', '.join(OUTCOMES)}")
    if not as_of_months:
        raise LabelError("no as-of months given")
    settings = settings or Settings()
    horizon = settings.model.horizon_months
    runout_months = settings.model.runout_months if runout_months is None else runout_months
    months = [check_month(m, "as_of") for m in as_of_months]
    if len(set(months)) != len(months):
        raise LabelError("an as-of month is listed twice")
    con = open_lake(workspace)
    try:
        latest = _known_month(con, known_month)
        for month in months:
            check_matured(month, latest, horizon, runout_months)
        partitions = lake_fingerprint(workspace, max(months))["partitions"]
        # Months the store lacks are built first, with nothing else held (this connection holds only
        # views): a month's DuckDB build beside the months already stacked passed 4 GB at 500k members.
        store_months(workspace, months, settings, partitions=partitions, progress=progress)
        # Every month's outcomes, and the connection closed, before the stored months are read
        # back: the outcome events of all the windows take DuckDB's memory budget, and the stacked
        # months would sit beside it.
        labelled = [(month, counts[["person_id", *outcomes, "months_observed"]], steps)
                    for month, counts, steps in _window_counts(con, workspace, months, latest, horizon, settings,
                                                               outcomes)]
    finally:
        con.close()
    others, attrition = [], []
    # The rows the stacked frame will have: one outcome's frame loses those its follow-up rule drops.
    rows_before = sum(len(apply_follow_up_rule(labels, outcome, horizon)[0]) if single else len(labels)
                      for _, labels, _ in labelled)
    names = feature_names()
    # Each month's features are copied once, into their rows of the one array training reads.
    # Stacking month frames with pd.concat and then copying into that array held three copies of
    # the largest thing in memory at once (4.3 GB at 500k members). np.empty only reserves the
    # rows: the memory sample's left-out rows are never touched, and are given back below.
    matrix = np.empty((rows_before, len(names)), dtype=np.float32)
    filled = 0
    sample: MemorySample | None = None
    for i in range(len(labelled)):
        (month, labels, population_steps), labelled[i] = labelled[i], None  # held by the month's frame only
        tick(progress, "building as-of months", i, len(months))
        features = stored_features(workspace, month, settings, partitions=partitions)
        features = features.astype({name: "float32" for name in feature_names()})
        steps = [(None, step, n) for step, n in population_steps.itertuples(index=False)]
        frame = features.merge(labels, on="person_id", how="inner")
        del features
        for name in outcomes:
            kept, follow_steps = apply_follow_up_rule(frame, name, horizon)
            steps += [(None if single else name, step, n) for step, n in follow_steps]
            if single:
                frame = kept
            else:
                frame[name] = frame[name].astype("float32").where(frame.index.isin(kept.index))
        frame.insert(1, "as_of", month)
        frame = frame.rename(columns={outcome: "label"}) if single else frame
        frame = frame[["person_id", "as_of", *names, *(["label"] if single else outcomes)]]
        if sample is None and len(frame):
            sample = MemorySample.of(frame, rows_before, settings.model.training_frame_max_mb)
        if sample is not None and sample.share < 1:
            frame = frame[sample.keeps(frame["person_id"])]
            for name in outcomes:
                column = "label" if single else name
                steps.append((None if single else name, sample.step(), int(frame[column].notna().sum())))
        matrix[filled:filled + len(frame)] = frame[names].to_numpy(dtype=np.float32)
        filled += len(frame)
        others.append(frame.drop(columns=names))
        attrition += [{"as_of": month, "outcome": name, "step": step, "children": n} for name, step, n in steps]
        del frame
    tick(progress, "building as-of months", len(months), len(months))
    matrix.resize((filled, len(names)), refcheck=False)  # in place: the unused rows go back
    rest = pd.concat(others, ignore_index=True)
    del others
    stacked = pd.DataFrame(matrix, columns=names, copy=False)
    for position, column in enumerate(("person_id", "as_of")):
        stacked.insert(position, column, rest[column].array)
    for column in rest.columns[2:]:
        stacked[column] = rest[column].array
    return TrainingFrame(frame=stacked, attrition=pd.DataFrame(attrition), matrix=matrix)


def outcome_labeller(workspace, settings: Settings) -> Callable[[str, int, str], pd.DataFrame]:
    """The labels of a scored month as the audit asks for them (``riskstrat.audit.workspace.Outcomes``):
    ``labeller(month, runout_months, known_month)`` -> :func:`build_labels`'s labels frame."""
    def labeller(month: str, runout_months: int, known_month: str) -> pd.DataFrame:
        return build_labels(workspace, month, settings, runout_months=runout_months, known_month=known_month)[0]

    return labeller
