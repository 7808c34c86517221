"""Monthly scoring: who is at risk, who goes on the worklist, which programme, and why.

:func:`score_population` is the recipe, each step a plain function testable on hand-built frames::

    features (riskstrat.features) -> model (riskstrat.model.registry) -> rank, percentile, tier
    -> suppression (care_management snapshot) -> flags (capacity, threshold)
    -> program match (programs.yaml) -> households -> SHAP reasons (riskstrat.scoring.explain)
    -> worklist

:func:`gather_inputs` reads what it needs from the lake and the registry. Publishing the month
(outputs/YYYY-MM/, the report, run.json) is the next stage's: :mod:`riskstrat.publish`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.audit.month import MonthAudit
from riskstrat.config import ScoringSettings, Settings
from riskstrat.core.months import add_months, month_end
from riskstrat.core.progress import Progress, tick
from riskstrat.core.sql import scalar
from riskstrat.core.workspace import output_dir
from riskstrat.features import build_features
from riskstrat.features.build import open_lake, population_attrition, prepare_as_of, span_rows
from riskstrat.features.concept_sql import materialise, register_codesets
from riskstrat.lake import connect
from riskstrat.model.registry import load_model
from riskstrat.scoring import explain
from riskstrat.scoring.flags import TIERS, ScoringError, rank_scores, select_flags
from riskstrat.scoring.households import household_keys, household_order
from riskstrat.scoring.programs import ProgramRules, load_programs
from riskstrat.scoring.suppression import suppression
from riskstrat.scoring.worklist import build_worklist

#: What the worklist shows of each flagged child, from the eligibility span that describes them at T.
CONTACT_COLUMNS = ["member_id", "subscriber_id", "first_name", "last_name", "birth_date", "phone", "address", "city",
                   "state", "zip_code"]


def read_previous(workspace: Path, as_of: str) -> pd.DataFrame | None:
    """Last month's scores.parquet (person_id, flagged, score, tier), or None when it was not published."""
    path = output_dir(workspace, add_months(as_of, -1)) / "scores.parquet"
    if not path.exists():
        return None
    try:
        prev = pd.read_parquet(path, columns=["person_id", "flagged", "score", "tier", "suppressed"])
    except (OSError, ValueError) as exc:  # pyarrow: not Parquet, or a column missing
        raise ScoringError(f"{path}: last month's scores cannot be read ({type(exc).__name__}); "
                           "publish that month again or move it aside") from None
    prev["person_id"] = prev["person_id"].astype("string")
    return prev


@dataclass
class MonthInputs:
    """Everything scoring reads, gathered from the lake and the registry (or hand-built in tests).

    ``members``: person_id, member_id, subscriber_id and contact columns (eligibility snapshot at T).
    ``care_management``: the snapshot known at T. ``last_ed``: person_id, last_ed_visit.
    ``deliveries``: rows of lake/_deliveries.parquet (validation summary). ``previous``: last month's
    scores or None. ``attrition``: (step, people) rows of the population.
    """

    as_of: str
    features: pd.DataFrame
    model: object
    members: pd.DataFrame
    care_management: pd.DataFrame | None = None
    last_ed: pd.DataFrame | None = None
    deliveries: pd.DataFrame | None = None
    previous: pd.DataFrame | None = None
    attrition: list[tuple[str, int]] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)


@dataclass
class MonthScores:
    """The month's scoring, before it is written: every table publish needs."""

    as_of: str
    model_id: str
    scores: pd.DataFrame
    worklist: pd.DataFrame
    explanations: pd.DataFrame
    shap_summary: pd.DataFrame
    programs: ProgramRules
    counts: dict
    audit: MonthAudit | None = None  # set when the month was audited before publishing


def _probabilities(model, X: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
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


def score_population(inputs: MonthInputs, settings: ScoringSettings, programs: ProgramRules | None = None,
                     progress: Progress | None = None, timings: dict | None = None) -> MonthScores:
    """Score, suppress, flag, match, group and explain one month (no files written)."""
    timings = timings if timings is not None else {}
    steps = ("predict", "suppress_and_flag", "programs", "explain", "households")
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now
        tick(progress, "scoring", steps.index(step) + 1, len(steps))

    model = inputs.model
    model_id = str(getattr(model, "model_id", "unknown"))
    frame = inputs.features.reset_index(drop=True)
    if "person_id" not in frame.columns:
        raise ScoringError("the feature frame has no person_id column")
    if frame.empty:
        raise ScoringError(f"no children to score in {inputs.as_of}: the population is empty")
    programs = programs or load_programs(settings.programs_file)

    X = explain.model_matrix(model, frame)
    ranked = rank_scores(frame["person_id"], _probabilities(model, X, frame))
    # pos[i]: the feature-frame row of the i-th ranked child; the big frame is never reordered.
    pos = ranked.pop("_row").to_numpy()
    lap("predict")

    sup = suppression(ranked["person_id"], inputs.care_management, month_end(inputs.as_of), settings.suppress_days)
    ranked = pd.concat([ranked, sup.drop(columns="person_id")], axis=1)
    ranked["flag_reason"] = select_flags(ranked, settings.capacity, settings.threshold)
    ranked["flagged"] = ranked["flag_reason"].notna().to_numpy(dtype=bool)

    members = inputs.members.drop_duplicates("person_id")
    ranked_ids = ranked["person_id"].to_numpy(dtype=object)
    # Object-dtype indexes hash in C; Arrow-backed string lookups are several times slower at 500k.
    member_pos = pd.Index(members["person_id"].to_numpy(dtype=object), dtype=object).get_indexer(ranked_ids)
    known = member_pos >= 0
    for column, source in (("member_id", "member_id"), ("household_id", "subscriber_id")):
        values = members[source] if source in members.columns else pd.Series([None] * len(members))
        ranked[column] = _take(values.where(values.notna(), None), member_pos, known)
    ranked["household_key"] = household_keys(ranked["person_id"], ranked["household_id"])
    if "age_years" in frame.columns:
        ranked["age"] = pd.array(np.round(frame["age_years"].to_numpy(dtype=float)[pos]), dtype="Int64")
    else:
        ranked["age"] = pd.array([pd.NA] * len(ranked), dtype="Int64")

    if inputs.previous is not None:
        prev = inputs.previous
        before = prev.loc[prev["flagged"].astype(bool).to_numpy(), "person_id"].to_numpy(dtype=object)
        ranked["flagged_last_month"] = pd.array(pd.Index(ranked_ids, dtype=object).isin(before), dtype="boolean")
    else:
        ranked["flagged_last_month"] = pd.array([pd.NA] * len(ranked), dtype="boolean")
    lap("suppress_and_flag")

    flagged_mask = ranked["flagged"].to_numpy(dtype=bool)
    flagged_idx = np.flatnonzero(flagged_mask)
    explain_rows = np.zeros(len(frame), dtype=bool)
    explain_rows[pos[flagged_idx]] = True
    match = programs.match(frame, explain=explain_rows)
    ranked["program_match"] = pd.array(match["program_match"].to_numpy()[pos], dtype="string")
    ranked["program_ids"] = pd.array(match["program_ids"].to_numpy()[pos], dtype="string")
    ranked["program_reason"] = pd.array(np.where(flagged_mask, match["program_reason"].to_numpy()[pos], None),
                                        dtype="string")
    lap("programs")

    X_flagged = X.iloc[pos[flagged_idx]]
    values, base = explain.shap_contributions(model, X_flagged)
    explanations = explain.explanations_frame(ranked["person_id"].to_numpy()[flagged_idx], X_flagged, values, base)
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

    ordered_households = household_order(ranked)
    flagged_features = frame.iloc[pos[ordered_households.index.to_numpy()]]
    worklist = build_worklist(ordered_households, members.set_index(members["person_id"].astype("string")),
                         inputs.last_ed, flagged_features)
    lap("households")

    ranked.insert(0, "as_of", inputs.as_of)
    ranked["model_id"] = model_id
    scores = ranked[SCORES_COLUMNS].reset_index(drop=True)
    counts = _counts(scores, worklist, explanations)
    return MonthScores(as_of=inputs.as_of, model_id=model_id, scores=scores, worklist=worklist,
                       explanations=explanations, shap_summary=summary, programs=programs, counts=counts)


SCORES_COLUMNS = [
    "as_of", "person_id", "member_id", "household_id", "age", "score", "percentile", "tier", "rank",
    "flagged", "flag_reason", "flagged_last_month", "program_match", "program_ids", "program_reason",
    "suppressed", "suppression", "suppression_reason", "top_reasons", "reason_features", "model_id",
]


def _counts(scores: pd.DataFrame, worklist: pd.DataFrame, explanations: pd.DataFrame) -> dict:
    flagged = scores[scores["flagged"]]
    return {
        "scored": int(len(scores)),
        "suppressed": int(scores["suppressed"].sum()),
        "suppressed_by_reason": {str(k): int(v) for k, v in scores["suppression"].value_counts().sort_index().items()},
        "flagged": int(len(flagged)),
        "flagged_by_capacity": int((flagged["flag_reason"] == "capacity").sum()),
        "flagged_by_threshold": int((flagged["flag_reason"] == "threshold").sum()),
        "flagged_new": int((~flagged["flagged_last_month"].fillna(False).astype(bool)).sum()),
        "flagged_continuing": int(flagged["flagged_last_month"].fillna(False).astype(bool).sum()),
        "households": int(worklist["household_group"].nunique()) if len(worklist) else 0,
        "worklist_rows": int(len(worklist)),
        "explanation_rows": int(len(explanations)),
        "flagged_by_tier": {t: int((flagged["tier"] == t).sum()) for t, _ in TIERS},
        "flagged_by_program": {str(k): int(v) for k, v in flagged["program_match"].value_counts().sort_index().items()},
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


def _deliveries(con) -> pd.DataFrame:
    return con.sql("SELECT * FROM _deliveries").to_arrow_table().to_pandas()


def gather_inputs(workspace: Path, as_of: str, settings: Settings, model_id: str | None = None,
                  timings: dict | None = None, progress: Progress | None = None,
                  features: pd.DataFrame | None = None) -> MonthInputs:
    """Read the month from the lake and the model from the registry.

    ``features``: the month's feature table when the caller already built it from the same lake
    and settings (the monthly job's drift check); otherwise it is built here. A table that
    :func:`riskstrat.features.build_features` did not build for ``as_of`` is refused.
    """
    if features is not None and features.attrs.get("as_of") != as_of:
        built_for = features.attrs.get("as_of") or "no month build_features recorded"
        raise ScoringError(f"the feature table passed to scoring was built for {built_for}, not {as_of}")

    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    model = load_model(workspace, model_id)
    timings["load_model"] = round(time.perf_counter() - t0, 3)
    con = connect(workspace)
    try:
        t0 = time.perf_counter()
        tick(progress, "features", 0, 1)
        frame = build_features(con, as_of, settings) if features is None else features
        tick(progress, "features", 1, 1)
        timings["features"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        cm, cm_month = _care_management_snapshot(con, as_of)
        members, last_ed, attrition = _month_facts(con, as_of)
        deliveries = _deliveries(con)
        timings["lake_reads"] = round(time.perf_counter() - t0, 3)
    finally:
        con.close()
    return MonthInputs(
        as_of=as_of, features=frame, model=model, members=members, care_management=cm, last_ed=last_ed,
        deliveries=deliveries, previous=read_previous(workspace, as_of), attrition=attrition,
        inputs={"care_management_snapshot": cm_month},
    )
