"""Monthly scoring: one ranked list per model specification, and the month's combined list.

:func:`score_population` is the recipe, each step a plain function testable on hand-built frames.
The month's features are built once and shared; each list that has a model then takes the same
steps on the children its population admits::

    population (the specification's rule, riskstrat.model.specs) -> its model
    (riskstrat.model.registry) -> rank, percentile, tier -> suppression for this list
    -> flags at its capacity -> program match -> SHAP reasons from its own model
    -> households -> its worklist

The combined list names each flagged child once, with every list that flagged them
(:func:`riskstrat.scoring.worklist.combine_worklists`).

:func:`gather_inputs` reads what it needs from the lake and the registry. Publishing the month
(outputs/YYYY-MM/, the report, run.json) is the next stage's: :mod:`riskstrat.publish`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from riskstrat.audit.month import MonthAudit
from riskstrat.config import DEFAULT_SPEC, ScoringSettings, Settings
from riskstrat.core.months import add_months, month_end, month_start
from riskstrat.core.progress import Progress, tick
from riskstrat.core.sql import scalar
from riskstrat.core.workspace import MODELS, output_dir
from riskstrat.features.build import open_lake, population_attrition, prepare_as_of, span_rows
from riskstrat.features.concept_sql import materialise, register_codesets
from riskstrat.features.spark import engine_session
from riskstrat.features.store import stored_features
from riskstrat.model.registry import CHAMPION, RegistryError, champions, load_model
from riskstrat.model.specs import Specification, load_specs, spec_changes
from riskstrat.outreach.log import (
    in_outreach,
    latest_words,
    log_fingerprint,
    outreach_counts,
    read_log,
    scoring_statuses,
)
from riskstrat.scoring import explain
from riskstrat.scoring.flags import TIERS, ScoringError, rank_scores, select_flags
from riskstrat.scoring.households import household_keys, household_order, household_sizes
from riskstrat.scoring.programs import ProgramRules, programme_rules
from riskstrat.scoring.spark import on_spark
from riskstrat.scoring.suppression import status_words, suppression
from riskstrat.scoring.worklist import build_worklist, combine_worklists

#: What the worklist shows of each flagged child, from the eligibility span that describes them at T.
CONTACT_COLUMNS = ["member_id", "subscriber_id", "first_name", "last_name", "birth_date", "phone", "address", "city",
                   "state", "zip_code"]

#: scores.parquet's columns: one row per list and child its population admits.
SCORES_COLUMNS = [
    "as_of", "list", "list_title", "person_id", "member_id", "household_id", "age", "score", "percentile", "tier",
    "rank", "flagged", "flag_reason", "flagged_last_month", "in_outreach", "program_match", "program_ids", "program_reason",
    "suppressed", "suppression", "suppression_reason", "top_reasons", "reason_features", "model_id",
]


def read_previous(workspace: Path, as_of: str) -> pd.DataFrame | None:
    """Last month's scores.parquet (list, person_id, flagged, score, tier, suppressed), or None when it was not published.

    A month published before there were several lists held the general list only; its rows are
    read as that list's.
    """
    path = output_dir(workspace, add_months(as_of, -1)) / "scores.parquet"
    if not path.exists():
        return None
    try:
        has_list = "list" in pq.read_schema(path).names
        prev = pd.read_parquet(path, columns=["list"] * has_list + ["person_id", "flagged", "score", "tier", "suppressed"])
    except (OSError, ValueError) as exc:  # pyarrow: not Parquet, or a column missing
        raise ScoringError(f"{path}: last month's scores cannot be read ({type(exc).__name__}); "
                           "publish that month again or move it aside") from None
    if not has_list:
        prev.insert(0, "list", DEFAULT_SPEC)
    prev["list"] = prev["list"].astype("string")
    prev["person_id"] = prev["person_id"].astype("string")
    return prev


@dataclass
class MonthInputs:
    """Everything scoring reads, gathered from the lake and the registry (or hand-built in tests).

    ``specs``: every model specification, in their order; ``models``: the model of each list that
    has one (specification name -> registered model); a specification without one is not scored.
    ``members``: person_id, member_id, subscriber_id and contact columns (eligibility snapshot at T).
    ``care_management``: the snapshot known at T. ``outreach``: the outreach log known at T
    (:func:`riskstrat.outreach.log.scoring_statuses`), and ``outreach_counts`` the attempts dated in
    the month (for the report). ``last_ed``: person_id, last_ed_visit.
    ``deliveries``: rows of lake/_deliveries.parquet (validation summary). ``previous``: last month's
    scores (:func:`read_previous`) or None. ``attrition``: (step, people) rows of the population.
    """

    as_of: str
    features: pd.DataFrame
    specs: list[Specification]
    models: dict[str, object]
    members: pd.DataFrame
    care_management: pd.DataFrame | None = None
    outreach: pd.DataFrame | None = None
    outreach_counts: pd.DataFrame | None = None
    last_ed: pd.DataFrame | None = None
    deliveries: pd.DataFrame | None = None
    previous: pd.DataFrame | None = None
    attrition: list[tuple[str, int]] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)
    #: What the month's scoring read that an analyst should know of (:func:`snapshot_note`).
    notes: list[str] = field(default_factory=list)


@dataclass
class ListScores:
    """One list's month: its scores (one row per child its population admits), worklist, SHAP, counts.

    ``features``: the feature rows of the list's population (the month's whole table for the
    general list), what the list's audit compares with its model's training data.
    """

    spec: Specification
    model: object
    capacity: int
    features: pd.DataFrame
    scores: pd.DataFrame
    worklist: pd.DataFrame
    explanations: pd.DataFrame
    shap_summary: pd.DataFrame
    counts: dict
    audit: MonthAudit | None = None  # set when the month was audited before publishing

    @property
    def model_id(self) -> str:
        return str(getattr(self.model, "model_id", "unknown"))


@dataclass
class MonthScores:
    """The month's scoring, before it is written: each list's tables, the combined worklist, the counts.

    ``skipped``: the lists not scored, in specification order, and why (:data:`NO_MODEL`,
    :data:`NO_CHILDREN`). ``outdated``: the lists scored by a model that learned before their
    specification file changed (:func:`outdated_model`), and what changed.
    """

    as_of: str
    lists: list[ListScores]
    skipped: list[tuple[Specification, str]]
    worklist: pd.DataFrame
    programs: ProgramRules
    counts: dict
    outdated: list[tuple[Specification, str]] = field(default_factory=list)
    #: what the scoring read that an analyst should know of (MonthInputs.notes)
    notes: list[str] = field(default_factory=list)

    @property
    def model_ids(self) -> dict[str, str]:
        return {ls.spec.name: ls.model_id for ls in self.lists}

    @property
    def scores(self) -> pd.DataFrame:
        """scores.parquet: every list's rows, the lists in specification order, each by rank."""
        return pd.concat([ls.scores for ls in self.lists], ignore_index=True)

    @property
    def explanations(self) -> pd.DataFrame:
        """explanations.parquet: every list's flagged children, each with its own model's features."""
        return pd.concat([ls.explanations for ls in self.lists], ignore_index=True)


def probabilities(model, X: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated probabilities; from the matrix already built when the model exposes its parts
    (a registry model), so the 500k-row matrix is typed once for scoring and SHAP alike."""
    calibrator = getattr(model, "calibrator", None)
    if calibrator is not None and hasattr(model, "booster"):
        return np.asarray(calibrator.predict(model.booster.predict(X, raw_score=True)), dtype=float)
    return np.asarray(model.predict_proba(frame), dtype=float)


def _take(values, positions: np.ndarray, found: np.ndarray, dtype: str = "string") -> pd.Series:
    out = np.full(len(positions), None, dtype=object)
    arr = np.asarray(values, dtype=object)
    out[found] = arr[positions[found]]
    return pd.Series(pd.array(out, dtype=dtype))


def _member_values(members: pd.DataFrame, column: str, positions: np.ndarray) -> pd.Series:
    """``members``' ``column`` at ``positions`` (from the members' person-id index; -1: not a member),
    None where a person or the column is missing."""
    values = members[column] if column in members.columns else pd.Series([None] * len(members))
    return _take(values.where(values.notna(), None), positions, positions >= 0)


def suppressing(care_management: pd.DataFrame | None, outreach: pd.DataFrame | None) -> pd.DataFrame | None:
    """What suppresses: the plan's care_management snapshot and the outreach log's outcomes that
    end or pause outreach. An open attempt ("in outreach") never suppresses, nor does it end an
    enrolment the plan reported, so it is left out here."""
    if outreach is None or outreach.empty:
        return care_management
    closing = outreach.loc[(outreach["status"] != "in_outreach").to_numpy(dtype=bool),
                           ["person_id", "program", "status", "status_date"]]
    frames = [f for f in (care_management, closing) if f is not None and not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else None


@dataclass
class _Shared:
    """What every list of the month reads alike, prepared once."""

    as_of: str
    members: pd.DataFrame
    member_index: pd.Index
    care_management: pd.DataFrame | None
    outreach: pd.DataFrame | None
    #: What suppresses (:func:`suppressing`), put together once for every list.
    statuses: pd.DataFrame | None
    in_outreach_days: int
    last_ed: pd.DataFrame | None
    previous: pd.DataFrame | None
    programs: ProgramRules
    #: Every scored child (person_id, household_id), and the children per household among them:
    #: a programme's list counts a family's other children in the plan, not only in its population.
    children: pd.DataFrame
    children_of: pd.Series
    #: Each child's latest care-management status of any programme, in words (status_words): on
    #: every list, so a coordinator sees another programme's referral or recent decline.
    care_words: dict[str, str]

    @classmethod
    def of(cls, inputs: MonthInputs, programs: ProgramRules, in_outreach_days: int,
           population: pd.Series, suppress_days: int) -> "_Shared":
        """``population``: the person_id of every child scored this month."""
        members = inputs.members.drop_duplicates("person_id")
        members = members.set_index(pd.Index(members["person_id"].astype("string"), name=None))
        # Object-dtype indexes hash in C; Arrow-backed string lookups are several times slower at 500k.
        index = pd.Index(members["person_id"].to_numpy(dtype=object), dtype=object)
        ids = population.to_numpy(dtype=object)
        children = pd.DataFrame({"person_id": pd.array(ids, dtype="string"),
                                 "household_id": _member_values(members, "subscriber_id", index.get_indexer(ids))})
        return cls(inputs.as_of, members, index, inputs.care_management, inputs.outreach,
                   suppressing(inputs.care_management, inputs.outreach), in_outreach_days, inputs.last_ed,
                   inputs.previous, programs, children,
                   household_sizes(children["person_id"], children["household_id"]),
                   status_words(inputs.care_management, month_end(inputs.as_of), suppress_days))

    def outreach_words(self, program: str | None) -> dict[str, str]:
        """The worklist's "Latest outreach": the outreach log's latest outcome for ``program`` (any
        programme when None), then the child's care-management status, when there are any."""
        logged = latest_words(self.outreach, program)
        return {person: "; ".join(w for w in (logged.get(person), self.care_words.get(person)) if w)
                for person in logged.keys() | self.care_words.keys()}

    def in_outreach(self, program: str | None) -> set[str]:
        """Children the outreach team is working with, for ``program`` (any programme when None)."""
        return in_outreach(self.outreach, month_end(self.as_of), self.in_outreach_days, program)

    def flagged_last_month(self, name: str | None = None) -> np.ndarray | None:
        """Children flagged last month on list ``name`` (any list when None); None when it was not published."""
        prev = self.previous
        if prev is None:
            return None
        if name is not None:
            prev = prev[(prev["list"] == name).to_numpy(dtype=bool)]
            if prev.empty:
                return None
        return prev.loc[prev["flagged"].astype(bool).to_numpy(), "person_id"].to_numpy(dtype=object)


class _Laps:
    """Step timings, summed over the lists, and the scoring progress."""

    def __init__(self, timings: dict, progress: Progress | None, total: int):
        self.timings, self.progress, self.total, self.done = timings, progress, total, 0
        self.clock = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(self.timings.get(step, 0.0) + now - self.clock, 3)
        self.clock = now
        self.done += 1
        tick(self.progress, "scoring", self.done, self.total)


_LIST_STEPS = ("predict", "suppress_and_flag", "programs", "explain", "households")

#: Why a list is not scored this month.
NO_MODEL = "no champion in the registry yet (riskstrat train)"
NO_CHILDREN = "its population rule admits no child this month"


def _score_list(spec: Specification, model, frame: pd.DataFrame, shared: _Shared, settings: ScoringSettings,
                lap: _Laps) -> ListScores:
    """Score, suppress, flag, match, explain and group one list's population (``frame``: its feature rows)."""
    X = explain.model_matrix(model, frame)
    ranked = rank_scores(frame["person_id"], probabilities(model, X, frame))
    # pos[i]: the population row of the i-th ranked child; the big frame is never reordered.
    pos = ranked.pop("_row").to_numpy()
    lap("predict")

    programme = None if spec.population is None else spec.name
    sup = suppression(ranked["person_id"], shared.statuses, month_end(shared.as_of), settings.suppress_days,
                      programme)
    ranked = pd.concat([ranked, sup.drop(columns="person_id")], axis=1)
    ranked["flag_reason"] = select_flags(ranked, settings.capacity, settings.threshold)
    ranked["flagged"] = ranked["flag_reason"].notna().to_numpy(dtype=bool)

    members = shared.members
    ranked_ids = ranked["person_id"].to_numpy(dtype=object)
    member_pos = shared.member_index.get_indexer(ranked_ids)
    for column, source in (("member_id", "member_id"), ("household_id", "subscriber_id")):
        ranked[column] = _member_values(members, source, member_pos)
    ranked["household_key"] = household_keys(ranked["person_id"], ranked["household_id"])
    if "age_years" in frame.columns:
        ranked["age"] = pd.array(np.round(frame["age_years"].to_numpy(dtype=float)[pos]), dtype="Int64")
    else:
        ranked["age"] = pd.array([pd.NA] * len(ranked), dtype="Int64")
    before = shared.flagged_last_month(spec.name)
    ranked["flagged_last_month"] = (pd.array([pd.NA] * len(ranked), dtype="boolean") if before is None else
                                    pd.array(pd.Index(ranked_ids, dtype=object).isin(before), dtype="boolean"))
    ranked["in_outreach"] = pd.Index(ranked_ids, dtype=object).isin(list(shared.in_outreach(programme)))
    lap("suppress_and_flag")

    flagged_mask = ranked["flagged"].to_numpy(dtype=bool)
    flagged_idx = np.flatnonzero(flagged_mask)
    explain_rows = np.zeros(len(frame), dtype=bool)
    explain_rows[pos[flagged_idx]] = True
    match = shared.programs.match(frame, explain=explain_rows)
    ranked["program_match"] = pd.array(match["program_match"].to_numpy()[pos], dtype="string")
    ranked["program_ids"] = pd.array(match["program_ids"].to_numpy()[pos], dtype="string")
    ranked["program_reason"] = pd.array(np.where(flagged_mask, match["program_reason"].to_numpy()[pos], None),
                                        dtype="string")
    lap("programs")

    X_flagged = X.iloc[pos[flagged_idx]]
    values, base = explain.shap_contributions(model, X_flagged)
    explanations = explain.explanations_frame(ranked["person_id"].to_numpy()[flagged_idx], X_flagged, values, base)
    explanations.insert(0, "list", spec.name)
    reasons = explain.top_reasons(X_flagged, values, settings.top_reasons)
    top = np.full(len(ranked), None, dtype=object)
    feats = np.full(len(ranked), None, dtype=object)
    for i, picked in zip(flagged_idx, reasons, strict=True):
        top[i] = [text for _, text in picked]
        feats[i] = [name for name, _ in picked]
    ranked["top_reasons"] = top
    ranked["reason_features"] = feats
    summary = explain.global_summary(model, X, settings.shap_summary_rows)
    lap("explain")

    ordered_households = household_order(ranked, shared.children_of)
    flagged_features = frame.iloc[pos[ordered_households.index.to_numpy()]]
    worklist = build_worklist(ordered_households, members, shared.last_ed, flagged_features, spec.title,
                              shared.outreach_words(programme))
    lap("households")

    ranked.insert(0, "as_of", shared.as_of)
    ranked.insert(1, "list", spec.name)
    ranked.insert(2, "list_title", spec.title)
    ranked["model_id"] = str(getattr(model, "model_id", "unknown"))
    scores = ranked[SCORES_COLUMNS].reset_index(drop=True)
    return ListScores(spec=spec, model=model, capacity=settings.capacity, features=frame, scores=scores,
                      worklist=worklist, explanations=explanations, shap_summary=summary,
                      counts=_counts(scores, worklist, explanations))


def score_population(inputs: MonthInputs, settings: Settings, progress: Progress | None = None,
                     timings: dict | None = None) -> MonthScores:
    """Score every list that has a model and children in its population, then combine the lists
    (no files written)."""
    timings = timings if timings is not None else {}
    frame = inputs.features.reset_index(drop=True)
    if "person_id" not in frame.columns:
        raise ScoringError("the feature frame has no person_id column")
    if frame.empty:
        raise ScoringError(f"no children to score in {inputs.as_of}: the population is empty")
    programs = programme_rules(inputs.specs)
    programs.require(frame)
    populations, skipped = {}, []
    for s in inputs.specs:
        rows = frame if s.population is None else frame[s.population.test(frame)].reset_index(drop=True)
        if s.name not in inputs.models or rows.empty:
            skipped.append((s, NO_MODEL if s.name not in inputs.models else NO_CHILDREN))
        else:
            populations[s.name] = (s, rows)
    if not populations:
        raise ScoringError(f"no list to score in {inputs.as_of}: "
                           + "; ".join(f"{s.name}: {why}" for s, why in skipped))
    shared = _Shared.of(inputs, programs, settings.outreach.in_outreach_days, frame["person_id"],
                        settings.scoring.suppress_days)
    models = inputs.models
    if settings.engine.name == "spark":
        models = on_spark(models, engine_session(settings))
    lap = _Laps(timings, progress, len(_LIST_STEPS) * len(populations) + 1)
    lists = [_score_list(s, models[name], rows, shared, settings.for_spec(s.spec).scoring, lap)
             for name, (s, rows) in populations.items()]

    on_lists = pd.concat([pd.DataFrame({"person_id": ls.worklist["person_id"], "title": ls.spec.title}) for ls in lists])
    # groupby keeps each child's rows in the order of the lists, so the titles are in specification order
    titles = on_lists.groupby("person_id", sort=False)["title"].agg(" + ".join)
    for ls in lists:
        ls.worklist["lists"] = titles.reindex(ls.worklist["person_id"]).to_numpy()
    combined = combine_worklists([ls.worklist for ls in lists], shared.children, shared.flagged_last_month(),
                                 shared.in_outreach(None), shared.outreach_words(None))
    lap("combine")
    outdated = [(ls.spec, why) for ls in lists if (why := outdated_model(ls.spec, inputs.models[ls.spec.name], settings))]
    return MonthScores(as_of=inputs.as_of, lists=lists, skipped=skipped, worklist=combined, programs=programs,
                       outdated=outdated, notes=[*inputs.notes, *filter(None, map(capacity_note, lists))],
                       counts=_month_counts(lists, combined))


def outdated_model(spec: Specification, model, settings: Settings) -> str | None:
    """Why a list's model no longer matches its specification file, or None: a model learned from
    another outcome, population or features keeps scoring until it is retrained, and says so."""
    manifest = getattr(model, "manifest", None) or {}
    changed = spec_changes(manifest.get("specification"), spec.spec, settings)
    if not changed:
        return None
    return (f"its model {getattr(model, 'model_id', '?')} learned before {spec.path.name} changed "
            f"({', '.join(changed)}); `riskstrat train --model {spec.name}` retrains it")


def capacity_note(ls: ListScores) -> str | None:
    """A list whose capacity reaches past every child it may call: it ranks nobody out, so its
    ranking decides nothing (and each child's band says little); the capacity may be set too high."""
    callable_children = int((~ls.scores["suppressed"].to_numpy(dtype=bool)).sum())
    if ls.capacity is None or ls.capacity < callable_children or not callable_children:
        return None
    return (f"{ls.spec.title}: its capacity ({ls.capacity}) is at least the {callable_children} children its "
            "population admits and nothing keeps off, so every one of them is flagged")


def continuing(scores: pd.DataFrame) -> pd.Series:
    """Flagged last month, or in outreach: a child the outreach team already knows."""
    return scores["flagged_last_month"].fillna(False).astype(bool) | scores["in_outreach"].astype(bool)


def _counts(scores: pd.DataFrame, worklist: pd.DataFrame, explanations: pd.DataFrame) -> dict:
    flagged = scores[scores["flagged"]]
    return {
        "scored": int(len(scores)),
        "suppressed": int(scores["suppressed"].sum()),
        "suppressed_by_reason": {str(k): int(v) for k, v in scores["suppression"].value_counts().sort_index().items()},
        "flagged": int(len(flagged)),
        "flagged_by_capacity": int((flagged["flag_reason"] == "capacity").sum()),
        "flagged_by_threshold": int((flagged["flag_reason"] == "threshold").sum()),
        "flagged_new": int((~continuing(flagged)).sum()),
        "flagged_continuing": int(continuing(flagged).sum()),
        "households": int(worklist["household_group"].nunique()) if len(worklist) else 0,
        "worklist_rows": int(len(worklist)),
        "explanation_rows": int(len(explanations)),
        "flagged_by_tier": {t: int((flagged["tier"] == t).sum()) for t, _ in TIERS},
        "flagged_by_program": {str(k): int(v) for k, v in flagged["program_match"].value_counts().sort_index().items()},
    }


def _month_counts(lists: list[ListScores], combined: pd.DataFrame) -> dict:
    """The month's counts over distinct children (the combined list), and each list's own (``lists``).

    A child kept off several lists counts once as suppressed, under the first list's reason; a
    child flagged on any list by capacity counts as flagged by capacity; tiers are those of the
    list where the child placed best.
    """
    rows = pd.concat([ls.scores[["person_id", "suppressed", "suppression", "flag_reason"]] for ls in lists],
                     ignore_index=True)
    suppressed = rows[rows["suppressed"].to_numpy(dtype=bool)].drop_duplicates("person_id")
    by_capacity = rows.loc[(rows["flag_reason"] == "capacity").fillna(False).to_numpy(dtype=bool), "person_id"]
    continuing = int((combined["new_or_continuing"] == "continuing").sum())
    capacity = int(combined["person_id"].isin(by_capacity).sum())
    listed = pd.concat([ls.worklist["person_id"] for ls in lists]).value_counts()

    def tally(column: pd.Series) -> dict[str, int]:
        return {str(k): int(v) for k, v in column.value_counts().sort_index().items()}

    return {
        "scored": int(rows["person_id"].nunique()),
        "suppressed": int(len(suppressed)),
        "suppressed_by_reason": tally(suppressed["suppression"]),
        "flagged": int(len(combined)),
        "flagged_by_capacity": capacity,
        "flagged_by_threshold": int(len(combined)) - capacity,
        "flagged_new": int(len(combined)) - continuing,
        "flagged_continuing": continuing,
        "households": int(combined["household_group"].nunique()) if len(combined) else 0,
        "worklist_rows": int(len(combined)),
        "explanation_rows": sum(ls.counts["explanation_rows"] for ls in lists),
        "flagged_by_tier": {t: int((combined["score_band"] == t).sum()) for t, _ in TIERS},
        "flagged_by_program": tally(combined["program_match"]),
        "flagged_by_lists": tally(combined["lists"]),
        "flagged_on_several_lists": int((listed > 1).sum()),
        "lists": {ls.spec.name: ls.counts for ls in lists},
    }


def _care_management_snapshot(con, as_of: str) -> tuple[pd.DataFrame, str | None]:
    """The latest care_management snapshot delivered by T (the table is optional)."""
    month = scalar(con, "SELECT MAX(delivery_month) FROM care_management WHERE delivery_month <= ?", [as_of])
    if month is None:
        return pd.DataFrame(columns=["person_id", "program", "status", "status_date"]), None
    frame = con.execute(
        "SELECT person_id, program, status, status_date FROM care_management WHERE delivery_month = ?", [month]
    ).df()
    return frame, month


def _month_facts(con, as_of: str) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, int]]]:
    """(contact details, each child's last ED visit known at T, the population attrition), from the
    features stage's concepts on a cursor of our own: the eligibility span that describes each
    person at T (the features' own rule) and the ED visits by the features' own rule."""
    cur = open_lake(con)
    try:
        register_codesets(cur)
        prepare_as_of(cur, as_of)
        materialise(cur, ["ed_visits", "eligibility_at_as_of"])
        last_ed = cur.execute(
            "SELECT person_id, MAX(event_date) AS last_ed_visit FROM ed_visits "
            "WHERE event_date <= (SELECT as_of_date FROM params) GROUP BY person_id"
        ).df()
        members = span_rows(cur, CONTACT_COLUMNS).drop(columns=["enrolled", "alive", "age_years"])
        members["birth_date"] = members["birth_date"].dt.strftime("%Y-%m-%d")
        return members, last_ed, population_attrition(cur)
    finally:
        cur.close()


def snapshot_note(as_of: str, snapshot_month: str | None, deliveries: pd.DataFrame | None) -> str | None:
    """Why suppression did not read ``as_of``'s own care-management snapshot, or None when it did.

    The table is optional: a plan may never send it, or send it late. A snapshot delivered with no
    rows is more often a failed extract than a month in which nobody is in any programme, so the
    last snapshot with rows is read, and this says so.
    """
    if snapshot_month == as_of:
        return None
    rows = deliveries if deliveries is not None else pd.DataFrame(columns=["table", "delivery_month", "rows_accepted"])
    delivered = rows[((rows["table"] == "care_management") & (rows["delivery_month"] == as_of)).to_numpy(dtype=bool)]
    if len(delivered) and (delivered["rows_accepted"].fillna(0) == 0).all():
        where = f"the {snapshot_month} snapshot" if snapshot_month else "no snapshot"
        return (f"the care_management snapshot of {as_of} was delivered with no rows; suppression read {where} "
                "instead: check the extract")
    if snapshot_month is None:
        return "no care_management snapshot has been delivered: only the outreach log keeps children off the lists"
    return f"no care_management snapshot was delivered for {as_of}: suppression read the {snapshot_month} snapshot"


def earlier_refusals_note(as_of: str, deliveries: pd.DataFrame | None, shown: int = 3) -> str | None:
    """The earlier deliveries the lake holds only in part (a table refused or failed): their other
    tables went in, so every later month's features read that month without the missing table."""
    if deliveries is None or deliveries.empty:
        return None
    bad = deliveries[((deliveries["delivery_month"] < as_of)
                      & deliveries["status"].isin(["refused", "failed"])).to_numpy(dtype=bool)]
    if bad.empty:
        return None
    named = [f"landing/{m}/{f} {s}" for m, f, s in zip(bad["delivery_month"], bad["file"], bad["status"], strict=True)]
    more = f" and {len(named) - shown} more" if len(named) > shown else ""
    return (f"earlier deliveries are in the lake without a table that was not accepted ({'; '.join(named[:shown])}"
            f"{more}): the features of every later month read those months without it; redeliver and ingest them")


def _deliveries(con) -> pd.DataFrame:
    return con.sql("SELECT * FROM _deliveries").to_arrow_table().to_pandas()


def list_model_ids(workspace: Path, specs: list[Specification], model_id: str | None = None) -> dict[str, str]:
    """The model of each list, in specification order: its specification's champion, or ``model_id``
    for the list of that model's specification. A list without a champion is left out; no list
    with one at all is the registry's one-line error."""
    chosen = champions(workspace)
    if model_id is not None:
        spec = load_model(workspace, model_id).design.spec
        if spec not in {s.name for s in specs}:
            folder = specs[0].path.parent if specs else "the model specifications"
            raise ScoringError(f"model {model_id} was trained for the specification {spec!r}, which {folder} does "
                               "not declare; score it with the specifications it was trained from")
        chosen = {**chosen, spec: model_id}
    ids = {s.name: chosen[s.name] for s in specs if s.name in chosen}
    if not ids:
        raise RegistryError(f"{Path(workspace) / MODELS / CHAMPION}: no champion for any list yet "
                            f"({', '.join(s.name for s in specs)}); run `riskstrat train` first")
    return ids


def gather_inputs(workspace: Path, as_of: str, settings: Settings, model_id: str | None = None,
                  timings: dict | None = None, progress: Progress | None = None,
                  features: pd.DataFrame | None = None) -> MonthInputs:
    """Read the month from the lake, the specifications and each list's model from the registry.

    ``model_id``: score the list of that model's specification with it instead of its champion.
    ``features``: the month's feature table when the caller already built it from the same lake
    and settings (the monthly job's drift check); otherwise it is read from the feature store, or
    built there (:mod:`riskstrat.features.store`). A table built for another month is refused.
    """
    if features is not None and features.attrs.get("as_of") != as_of:
        built_for = features.attrs.get("as_of") or "no month build_features recorded"
        raise ScoringError(f"the feature table passed to scoring was built for {built_for}, not {as_of}")

    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    specs = load_specs(workspace, settings)
    chosen = list_model_ids(workspace, specs, model_id)
    models = {name: load_model(workspace, mid, spec=name) for name, mid in chosen.items()}
    timings["load_models"] = round(time.perf_counter() - t0, 3)
    # DuckDB's memory budget (open_lake): with none, reading the month's ED visits took 6 GB at 500k members.
    con = open_lake(workspace)
    try:
        t0 = time.perf_counter()
        tick(progress, "features", 0, 1)
        frame = stored_features(workspace, as_of, settings) if features is None else features
        tick(progress, "features", 1, 1)
        timings["features"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        cm, cm_month = _care_management_snapshot(con, as_of)
        log = read_log(workspace, settings, month_end(as_of))
        members, last_ed, attrition = _month_facts(con, as_of)
        deliveries = _deliveries(con)
        timings["lake_reads"] = round(time.perf_counter() - t0, 3)
    finally:
        con.close()
    return MonthInputs(
        as_of=as_of, features=frame, specs=specs, models=models, members=members, care_management=cm,
        outreach=scoring_statuses(log), outreach_counts=outreach_counts(log, month_start(as_of)),
        last_ed=last_ed, deliveries=deliveries, previous=read_previous(workspace, as_of), attrition=attrition,
        inputs={"care_management_snapshot": cm_month,
                "outreach_log": log_fingerprint(log, settings)},
        notes=[note for note in (snapshot_note(as_of, cm_month, deliveries), earlier_refusals_note(as_of, deliveries))
               if note],
    )
