"""Monthly scoring: who is at risk, who goes on the worklist, which programme, and why.

:func:`score_month` is the recipe, each step a plain function testable on hand-built frames::

    features (riskstrat.features) -> model (riskstrat.registry) -> rank, percentile, tier
    -> suppression (care_management snapshot) -> flags (capacity, threshold)
    -> program match (programs.yaml) -> households -> SHAP reasons (riskstrat.explain)
    -> publish outputs/YYYY-MM/ atomically (riskstrat.publish)

Decisions an outreach lead should know:

- **Suppressed children do not use capacity.** Capacity is the new outreach a team can take on;
  a child already enrolled in a programme, or who declined or could not be reached within
  ``suppress_days``, is kept in scores.parquet with the reason and the next child takes the slot.
  Only ``enrolled`` counts as already served: a pending ``referred`` does not suppress, so a
  referral nobody acted on cannot hide a child. ``discharged`` ends an enrolment.
- **Ties are broken by person_id**, so the same inputs always give the same ranks.
- **Households.** Flagged siblings (same ``subscriber_id``) are listed together, the family
  placed by its best-ranked child, so one coordinator calls one family once. Siblings who are
  not flagged are not listed (the worklist is the flagged children, outputs.md); the worklist
  says how many other children of the household are in the plan, so the coordinator can ask.
- **Tiers** are by position in the month's ranking (:data:`TIERS`: top 1%, 5%, 20%), not by
  probability, so a band means the same share of children every month.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.config import ScoringSettings, Settings

Progress = Callable[[str, int, int], None]

#: Tiers by how far up the month's ranking a child is: (name, top share of children in percent),
#: highest first. A child is in the first tier whose share exceeds the share of children scoring
#: strictly higher than them, so "very high" is the top 1%, "high" the rest of the top 5%, ...
TIERS: tuple[tuple[str, float], ...] = (("very high", 1.0), ("high", 5.0), ("elevated", 20.0), ("standard", 100.0))
#: care_management statuses that keep a child off the worklist, and how long (None = while it lasts).
SUPPRESSING = {"enrolled": None, "declined": "suppress_days", "unable_to_reach": "suppress_days"}
_SUPPRESSION_WORDS = {
    "enrolled": "enrolled in {program} (since {date})",
    "declined": "declined {program} on {date}",
    "unable_to_reach": "could not be reached for {program} on {date}",
}
# Which status wins when one programme has several on the same day: the most decisive one.
_STATUS_ORDER = {"discharged": 0, "referred": 1, "unable_to_reach": 2, "declined": 3, "enrolled": 4}


class ScoringError(ValueError):
    """Scoring cannot run; the message names the file, month or rule (never a member)."""


# ---- ranks, tiers ------------------------------------------------------------------------------


def tier_of(percentile: np.ndarray | pd.Series) -> np.ndarray:
    """The tier name for each percentile (100 minus the percent of children scoring higher; see :data:`TIERS`)."""
    above = 100.0 - np.asarray(percentile, dtype=float)
    out = np.full(above.shape, TIERS[-1][0], dtype=object)
    for name, share in reversed(TIERS):
        out[above < share] = name
    return out


def rank_scores(person_ids, scores) -> pd.DataFrame:
    """person_id, score, rank (1 = highest; ties by person_id), percentile (100 minus the percent of
    children scoring strictly higher: 100 for the top child, ties share it) and tier, sorted by rank.

    ``_row`` is each child's position in the input, so callers can align without looking ids up.
    """
    frame = pd.DataFrame({"person_id": pd.array(person_ids, dtype="string"), "score": np.asarray(scores, dtype=float),
                          "_row": np.arange(len(scores))})
    if frame["person_id"].duplicated().any():
        raise ScoringError("the feature frame has more than one row for a person; expected one row per child")
    if frame["score"].isna().any():
        raise ScoringError("the model gave no score for some children (NaN); check the feature frame")
    frame = frame.sort_values(["score", "person_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    n = len(frame)
    frame["rank"] = np.arange(1, n + 1, dtype="int64")
    above = frame["score"].rank(method="min", ascending=False).to_numpy() - 1
    frame["percentile"] = np.round(100.0 * (1.0 - above / max(n, 1)), 4)
    frame["tier"] = pd.array(tier_of(frame["percentile"]), dtype="string")
    return frame


# ---- suppression -------------------------------------------------------------------------------


def suppression(person_ids, care_management: pd.DataFrame, as_of_date: date, suppress_days: int) -> pd.DataFrame:
    """Per person: suppressed (bool), suppression (enrolled / declined / unable_to_reach) and a reason.

    ``care_management`` is the snapshot known at T (person_id, program, status, status_date). Per
    programme the latest status counts; an enrolment suppresses while it lasts, a decline or
    unable-to-reach for ``suppress_days`` after its date. Several programmes: enrolment wins, then
    the most recent.
    """
    out = pd.DataFrame({"person_id": pd.array(person_ids, dtype="string")})
    out["suppressed"] = False
    out["suppression"] = pd.array([None] * len(out), dtype="string")
    out["suppression_reason"] = pd.array([None] * len(out), dtype="string")
    if care_management is None or care_management.empty:
        return out
    cm = care_management[["person_id", "program", "status", "status_date"]].copy()
    cm["person_id"] = cm["person_id"].astype("string")
    cm["status"] = cm["status"].astype("string").str.lower()
    cm["status_date"] = pd.to_datetime(cm["status_date"]).dt.date
    cm = cm[cm["status_date"].notna() & (cm["status_date"] <= as_of_date)]
    cm["_order"] = cm["status"].map(_STATUS_ORDER).fillna(-1)
    cm = cm.sort_values(["person_id", "program", "status_date", "_order"], kind="stable")
    latest = cm.groupby(["person_id", "program"], sort=False, dropna=False).tail(1)
    age_days = latest["status_date"].map(lambda d: (as_of_date - d).days)
    active = (latest["status"] == "enrolled") | (
        latest["status"].isin(["declined", "unable_to_reach"]) & (age_days <= suppress_days)
    )
    hits = latest[active.fillna(False).to_numpy(dtype=bool)].copy()
    if hits.empty:
        return out
    hits["_enrolled"] = (hits["status"] == "enrolled").astype(int)
    hits = hits.sort_values(["person_id", "_enrolled", "status_date", "program"], ascending=[True, False, False, True],
                            kind="stable").groupby("person_id", sort=False).head(1)
    hits["reason"] = [
        _SUPPRESSION_WORDS[s].format(program=str(p).replace("_", " "), date=d.isoformat())
        for s, p, d in zip(hits["status"], hits["program"], hits["status_date"], strict=True)
    ]
    by_person = hits.set_index("person_id")
    matched = out["person_id"].isin(by_person.index).to_numpy(dtype=bool)
    keys = out.loc[matched, "person_id"]
    out.loc[matched, "suppressed"] = True
    out.loc[matched, "suppression"] = by_person.loc[keys, "status"].to_numpy()
    out.loc[matched, "suppression_reason"] = by_person.loc[keys, "reason"].to_numpy()
    return out


# ---- flags -------------------------------------------------------------------------------------


def select_flags(ranked: pd.DataFrame, capacity: int, threshold: float | None = None) -> pd.Series:
    """Which children go on the worklist, and why: "capacity" (the best ``capacity`` children not
    suppressed) or "threshold" (any other child not suppressed scoring at or above it); else null.

    ``ranked`` has rank, score and suppressed columns; suppressed children never use capacity.
    """
    eligible = ~ranked["suppressed"].to_numpy(dtype=bool)
    order = np.argsort(ranked["rank"].to_numpy(), kind="stable")
    take = order[eligible[order]][:capacity]
    why = np.full(len(ranked), None, dtype=object)
    if threshold is not None:
        why[eligible & (ranked["score"].to_numpy(dtype=float) >= threshold)] = "threshold"
    why[take] = "capacity"
    return pd.Series(pd.array(why, dtype="string"), index=ranked.index, name="flag_reason")


# ---- households --------------------------------------------------------------------------------


def household_keys(person_ids: pd.Series, subscriber_ids: pd.Series) -> pd.Series:
    """The household of each child: its subscriber_id, or the child alone when the plan gave none."""
    sub = subscriber_ids.astype("string").str.strip()
    alone = sub.isna() | (sub == "")
    return sub.mask(alone, "person:" + person_ids.astype("string"))


def household_order(scores: pd.DataFrame) -> pd.DataFrame:
    """The flagged children in worklist order, siblings together.

    Needs person_id, household_key, rank and flagged columns for the whole scored population.
    Returns the flagged rows with ``worklist_position`` (1..), ``household_group`` (1.. in order of
    the household's best rank), ``household_flagged`` (children of the household on the list) and
    ``household_not_listed`` (other children of the household in the scored population, not listed).
    """
    in_household = scores.groupby("household_key", sort=False)["person_id"].transform("size")
    flagged = scores[scores["flagged"].to_numpy(dtype=bool)].copy()
    flagged["_in_household"] = in_household[flagged.index]
    best = flagged.groupby("household_key", sort=False)["rank"].transform("min")
    flagged["_best"] = best
    flagged = flagged.sort_values(["_best", "rank"], kind="stable")
    flagged["household_group"] = flagged["_best"].rank(method="dense").astype("int64")
    flagged["household_flagged"] = flagged.groupby("household_key", sort=False)["person_id"].transform("size").astype("int64")
    flagged["household_not_listed"] = (flagged["_in_household"] - flagged["household_flagged"]).astype("int64")
    flagged["worklist_position"] = np.arange(1, len(flagged) + 1, dtype="int64")
    return flagged.drop(columns=["_best", "_in_household"])


# ---- previous month ----------------------------------------------------------------------------


def previous_month(as_of: str) -> str:
    """The month before ``as_of`` (YYYY-MM)."""
    from riskstrat.features import add_months

    return add_months(as_of, -1)


def read_previous(workspace: Path, as_of: str) -> pd.DataFrame | None:
    """Last month's scores.parquet (person_id, flagged, score, tier), or None when it was not published."""
    path = Path(workspace) / "outputs" / previous_month(as_of) / "scores.parquet"
    if not path.exists():
        return None
    prev = pd.read_parquet(path, columns=["person_id", "flagged", "score", "tier", "suppressed"])
    prev["person_id"] = prev["person_id"].astype("string")
    return prev


# ---- the whole month ---------------------------------------------------------------------------


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
    programs: object
    counts: dict
    audit: object = None  # riskstrat.audit.month.MonthAudit, when the month was audited before publishing


def _month_end(as_of: str) -> date:
    from riskstrat.features import month_end

    return month_end(as_of)


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


def score_population(inputs: MonthInputs, settings: ScoringSettings, programs=None,
                     progress: Progress | None = None, timings: dict | None = None) -> MonthScores:
    """Score, suppress, flag, match, group and explain one month (no files written)."""
    from riskstrat import explain
    from riskstrat.programs import load_programs

    timings = timings if timings is not None else {}
    steps = ("predict", "suppress_and_flag", "programs", "explain", "households")
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now
        if progress:
            progress("scoring", steps.index(step) + 1, len(steps))

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

    sup = suppression(ranked["person_id"], inputs.care_management, _month_end(inputs.as_of), settings.suppress_days)
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
    worklist = _worklist(ordered_households, members.set_index(members["person_id"].astype("string")),
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
#: The worklist's columns, in order: what an outreach worker needs to call a family, nothing more.
WORKLIST_COLUMNS = [
    "position", "rank", "household_group", "new_or_continuing", "person_id", "member_id", "household_id",
    "first_name", "last_name", "birth_date", "age", "phone", "address", "city", "state", "zip_code",
    "score_band", "program_match", "program_reason", "top_reasons", "last_ed_visit", "care_gaps",
    "other_children_in_household",
]


def _care_gaps(features: pd.DataFrame) -> list[str]:
    """The care gaps of each child, worded from the declared care-gap features that are set."""
    from riskstrat.features import FEATURES, reason_text

    out = [[] for _ in range(len(features))]
    for f in FEATURES:
        if f.family != "care_gaps" or f.name not in features.columns:
            continue
        values = pd.to_numeric(features[f.name], errors="coerce").to_numpy(dtype=float)
        for i in np.flatnonzero(values >= 0.5):
            out[i].append(reason_text(f.name, values[i]))
    return ["; ".join(gaps) for gaps in out]


def _worklist(flagged: pd.DataFrame, members: pd.DataFrame, last_ed: pd.DataFrame | None,
              features: pd.DataFrame) -> pd.DataFrame:
    def contact(name: str) -> list:
        if name not in members.columns:
            return [None] * len(flagged)
        col = members[name]
        return [None if pd.isna(v) else str(v) for v in col.reindex(flagged["person_id"]).tolist()]

    if last_ed is not None and not last_ed.empty:
        ed = last_ed.assign(person_id=last_ed["person_id"].astype("string")).set_index("person_id")["last_ed_visit"]
        ed_dates = [None if pd.isna(v) else pd.Timestamp(v).date().isoformat() for v in ed.reindex(flagged["person_id"])]
    else:
        ed_dates = [None] * len(flagged)
    prev = flagged["flagged_last_month"]
    status = np.where(prev.fillna(False).to_numpy(dtype=bool), "continuing", "new")
    wl = pd.DataFrame({
        "position": flagged["worklist_position"].to_numpy(),
        "rank": flagged["rank"].to_numpy(),
        "household_group": flagged["household_group"].to_numpy(),
        "new_or_continuing": status,
        "person_id": flagged["person_id"].astype(str).to_numpy(),
        "member_id": flagged["member_id"].to_numpy(dtype=object),
        "household_id": flagged["household_id"].to_numpy(dtype=object),
        "first_name": contact("first_name"),
        "last_name": contact("last_name"),
        "birth_date": [None if v is None else v[:10] for v in contact("birth_date")],
        "age": flagged["age"].to_numpy(dtype=object),
        "phone": contact("phone"),
        "address": contact("address"),
        "city": contact("city"),
        "state": contact("state"),
        "zip_code": contact("zip_code"),
        "score_band": flagged["tier"].astype(str).to_numpy(),
        "program_match": flagged["program_match"].astype(str).to_numpy(),
        "program_reason": flagged["program_reason"].to_numpy(dtype=object),
        "top_reasons": ["; ".join(r or []) for r in flagged["top_reasons"]],
        "last_ed_visit": ed_dates,
        "care_gaps": _care_gaps(features),
        "other_children_in_household": flagged["household_not_listed"].to_numpy(),
    })
    wl = wl.replace({pd.NA: None})
    return wl[WORKLIST_COLUMNS]


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


@dataclass
class ScoreResult:
    """What a scoring run published, for the CLI and the monthly flow (counts only, no member data)."""

    as_of: str
    model_id: str
    out_dir: Path
    counts: dict
    timings: dict

    @property
    def worklist_csv(self) -> Path:
        return self.out_dir / "worklist.csv"

    @property
    def worklist_xlsx(self) -> Path:
        return self.out_dir / "worklist.xlsx"

    @property
    def report(self) -> Path:
        return self.out_dir / "report.html"

    def summary_lines(self) -> list[str]:
        c = self.counts
        tiers = ", ".join(f"{k} {v}" for k, v in c["flagged_by_tier"].items() if v)
        progs = ", ".join(f"{k} {v}" for k, v in c["flagged_by_program"].items())
        return [
            f"Scored {c['scored']:,} children for {self.as_of} with model {self.model_id}.",
            f"Suppressed (already served or declined recently): {c['suppressed']:,}.",
            f"Flagged {c['flagged']:,} in {c['households']:,} households "
            f"({c['flagged_new']:,} new, {c['flagged_continuing']:,} continuing); tiers: {tiers or '-'}.",
            f"Program match: {progs or '-'}.",
            f"Took {sum(self.timings.values()):.1f} s.",
        ]


# ---- gathering inputs from the lake ------------------------------------------------------------

_CONTACT_SQL = """
-- The eligibility row describing each person at T: the span covering the as-of date, else the
-- latest (the same choice as sql/features/eligibility_at_as_of.sql), with the contact columns.
SELECT person_id, member_id, subscriber_id, first_name, last_name, CAST(birth_date AS VARCHAR) AS birth_date,
       phone, address, city, state, zip_code
FROM (
    SELECT e.*, ROW_NUMBER() OVER (
        PARTITION BY person_id
        ORDER BY CASE WHEN enrollment_start_date <= $as_of
                       AND (enrollment_end_date IS NULL OR enrollment_end_date >= $as_of) THEN 1 ELSE 0 END DESC,
                 enrollment_start_date DESC, member_id DESC) AS span_rank
    FROM eligibility AS e
    WHERE delivery_month = $month
)
WHERE span_rank = 1
"""


def _care_management_snapshot(con, as_of: str) -> tuple[pd.DataFrame, str | None]:
    """The latest care_management snapshot delivered by T (the table is optional)."""
    month = con.execute("SELECT MAX(delivery_month) FROM care_management WHERE delivery_month <= ?", [as_of]).fetchone()[0]
    if month is None:
        return pd.DataFrame(columns=["person_id", "program", "status", "status_date"]), None
    frame = con.execute(
        "SELECT person_id, program, status, status_date FROM care_management WHERE delivery_month = ?", [month]
    ).df()
    return frame, month


def _month_facts(con, as_of: str) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Each child's last ED visit known at T (by the features' own ED-visit rule) and the
    population attrition, from the features stage's concepts on a cursor of our own."""
    from riskstrat import features

    cur = con.cursor()
    try:
        features.register_codesets(cur)
        features.prepare_as_of(cur, as_of)
        features.materialise(cur, ["ed_visits", "eligibility_at_as_of"])
        last_ed = cur.execute(
            "SELECT person_id, MAX(event_date) AS last_ed_visit FROM ed_visits "
            "WHERE event_date <= (SELECT as_of_date FROM params) GROUP BY person_id"
        ).df()
        return last_ed, features.population_attrition(cur)
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
    from riskstrat import features as feats
    from riskstrat import lake, registry

    if features is not None and features.attrs.get("as_of") != as_of:
        built_for = features.attrs.get("as_of") or "no month build_features recorded"
        raise ValueError(f"the feature table passed to scoring was built for {built_for}, not {as_of}")

    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    model = registry.load_model(workspace, model_id)
    timings["load_model"] = round(time.perf_counter() - t0, 3)
    con = lake.connect(workspace)
    try:
        t0 = time.perf_counter()
        if progress:
            progress("features", 0, 1)
        frame = feats.build_features(con, as_of, settings) if features is None else features
        if progress:
            progress("features", 1, 1)
        timings["features"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        members = con.execute(_CONTACT_SQL, {"as_of": _month_end(as_of), "month": as_of}).df()
        cm, cm_month = _care_management_snapshot(con, as_of)
        last_ed, attrition = _month_facts(con, as_of)
        deliveries = _deliveries(con)
        timings["lake_reads"] = round(time.perf_counter() - t0, 3)
    finally:
        con.close()
    return MonthInputs(
        as_of=as_of, features=frame, model=model, members=members, care_management=cm, last_ed=last_ed,
        deliveries=deliveries, previous=read_previous(workspace, as_of), attrition=attrition,
        inputs={"care_management_snapshot": cm_month},
    )


def score_month(workspace: Path, as_of: str, settings: Settings | None = None, model_id: str | None = None,
                progress: Progress | None = None, features: pd.DataFrame | None = None) -> ScoreResult:
    """Score every child enrolled at ``as_of`` and publish ``workspace/outputs/<as_of>/`` atomically.

    The month folder holds scores.parquet, explanations.parquet, worklist.csv, worklist.xlsx,
    report.html and run.json (see ../shared/spec/outputs.md). Re-running with the same lake and
    model gives the same bytes (run.json differs only in its timings). ``features``: the month's
    feature table if the caller already has it (see :func:`gather_inputs`).
    """
    from riskstrat import publish
    from riskstrat.audit.month import month_audit
    from riskstrat.features import check_month
    from riskstrat.programs import load_programs

    check_month(as_of)
    workspace = Path(workspace)
    settings = settings or Settings()
    timings: dict[str, float] = {}
    programs_file = settings.scoring.programs_file
    if programs_file and not Path(programs_file).is_absolute():
        programs_file = str(workspace / programs_file)
    programs = load_programs(programs_file)
    inputs = gather_inputs(workspace, as_of, settings, model_id, timings, progress, features)
    month = score_population(inputs, settings.scoring, programs, progress, timings)
    t0 = time.perf_counter()
    month.audit = month_audit(workspace, as_of, inputs.model, inputs.features, month.scores, settings)
    timings["audit"] = round(time.perf_counter() - t0, 3)
    out_dir = publish.publish_month(workspace, month, inputs, settings, timings, progress)
    return ScoreResult(as_of=as_of, model_id=month.model_id, out_dir=out_dir, counts=month.counts, timings=timings)
