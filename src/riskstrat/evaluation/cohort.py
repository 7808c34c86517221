"""Who is compared with whom: the enrolled children, the children who could have been, and what each used month by month.

A child's *index month* is the month they enrolled. The children they are compared with are
children of the same index month who were scored then and could have been enrolled but were not:
flagged on the programme's list, or scoring at least as high as a child who did enrol that
month. Children beyond capacity, those who declined and those never reached are all among them.

Enrolment dates come from every ``care_management`` snapshot delivered (a child's first
``enrolled`` status in the programme) and from the outreach log's ``enrolled`` outcomes when a
log exists; the earlier date counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.audit.fairness import age_band
from riskstrat.config import DEFAULT_SPEC, Settings
from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import month_numbers, month_of
from riskstrat.core.progress import Progress, tick
from riskstrat.core.ranking import pick_top
from riskstrat.core.workspace import output_dir
from riskstrat.features.concept_sql import materialise, register_codesets, set_params
from riskstrat.features.store import store_months, stored_features
from riskstrat.model.registry import champion_id, load_model
from riskstrat.model.specs import Specification, load_specs
from riskstrat.outreach.log import read_log
from riskstrat.scoring.explain import model_matrix
from riskstrat.scoring.month import probabilities


class EvaluationError(RiskstratError):
    """The evaluation cannot be made as asked (the message says why, in one line)."""


#: Each month's use, as monthly_use.sql counts it.
USE_COLUMNS = ("ip_admits", "ed_visits", "bh_crises", "paid")
#: The aid categories a child is matched on (eligibility flags of the features); none of them is TANF and the like.
AID_FLAGS = ("aid_foster_care", "aid_adoption_assistance", "aid_ssi_disabled", "aid_chip")


def enrolments(con, workspace: Path, settings: Settings, until: date) -> pd.DataFrame:
    """Every child's first enrolment in each programme (person_id, program, enrolled_on), known by ``until``.

    care_management is a full snapshot each month, and a plan may drop a child's old rows from a
    later one, so every snapshot delivered is read.
    """
    delivered = con.execute(
        "SELECT person_id, program, MIN(status_date) AS enrolled_on FROM care_management "
        "WHERE status = 'enrolled' AND status_date <= ? GROUP BY person_id, program", [until]).df()
    frames = [delivered]
    log = read_log(workspace, settings, until)
    if log is not None and not log.empty:
        enrolled = log[log["outcome"] == "enrolled"]
        frames.append(pd.DataFrame({"person_id": enrolled["person_id"], "program": enrolled["program"],
                                    "enrolled_on": enrolled["attempt_date"]}))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({"person_id": pd.Series(dtype="string"), "program": pd.Series(dtype="string"),
                             "enrolled_on": pd.Series(dtype="datetime64[us]")})
    out = pd.concat(frames, ignore_index=True)
    out["person_id"] = out["person_id"].astype("string")
    out["program"] = out["program"].astype("string")
    out["enrolled_on"] = pd.to_datetime(out["enrolled_on"])
    out = out.groupby(["person_id", "program"], as_index=False)["enrolled_on"].min()
    return out.sort_values(["person_id", "program"], ignore_index=True)


def monthly_use(con, first: str, last: str, known: str, persons: pd.Series) -> pd.DataFrame:
    """Each covered month from ``first`` to ``last`` of each of ``persons`` (monthly_use.sql), as
    known at delivery ``known``; only their rows leave DuckDB."""
    register_codesets(con)
    set_params(con, as_of=known, known_month=known, first_month=first, last_month=last)
    materialise(con, ["monthly_use"])
    con.register("evaluated_persons", pd.DataFrame({"person_id": pd.unique(persons.astype(str))}))
    try:
        use = con.execute("SELECT m.* FROM monthly_use AS m SEMI JOIN evaluated_persons AS p "
                          "ON m.person_id = p.person_id ORDER BY m.person_id, m.month").df()
    finally:
        con.unregister("evaluated_persons")
    use["person_id"] = use["person_id"].astype("string")
    return use


@dataclass(frozen=True)
class ScoreSource:
    """Where one index month's scores came from: the model and whether the month was published."""

    month: str
    model_id: str
    published: bool


def programme_spec(workspace: Path, program: str, settings: Settings) -> Specification:
    """The list whose score a programme is matched on: its own specification when it has one, else the general list."""
    specs = {s.name: s for s in load_specs(workspace, settings)}
    return specs.get(program) or specs[DEFAULT_SPEC]


def _published(workspace: Path, month: str, spec: str) -> tuple[str | None, pd.Series | None]:
    """(model id, flagged children) of the month's published list, or (None, None) when it was not published."""
    folder = output_dir(workspace, month)
    try:
        manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        scores = pd.read_parquet(folder / "scores.parquet", columns=["list", "person_id", "flagged"])
    except (OSError, ValueError):
        return None, None
    model_id = (manifest.get("models") or {}).get(spec)
    return model_id, scores.loc[(scores["list"] == spec) & scores["flagged"], "person_id"].astype("string")


def index_month_scores(workspace: Path, spec: Specification, month: str, settings: Settings) -> tuple[pd.DataFrame, ScoreSource]:
    """Every child scored in ``month``, with the programme's score, flag, population and what they are matched on.

    The score is the calibrated risk from the model that published the month's list, or the
    specification's champion when the month was never published; the features are the month's own
    (the feature store's, built if missing). A child outside the programme's population is scored
    too: an enrolled child may be one. Flagged: on the published list, else within the list's
    capacity among its population.
    """
    frame = stored_features(workspace, month, settings)
    model_id, flagged = _published(workspace, month, spec.name)
    published = model_id is not None
    if model_id is None:
        model_id = champion_id(workspace, spec.name)
        if model_id is None:
            raise EvaluationError(f"{month}: no published scores and no champion for {spec.name} to score it "
                                  "(riskstrat train)")
    model = load_model(workspace, model_id, spec=spec.name)
    scores = probabilities(model, model_matrix(model, frame), frame)
    in_population = (np.ones(len(frame), bool) if spec.population is None
                     else np.asarray(spec.population.test(frame), dtype=bool))
    out = pd.DataFrame({"index_month": month, "person_id": frame["person_id"].astype("string"), "score": scores,
                        "in_population": in_population})
    if flagged is None:
        capacity = settings.for_spec(spec.spec).scoring.capacity
        out["flagged"] = pick_top(scores, out["person_id"], capacity, eligible=in_population)
    else:
        out["flagged"] = out["person_id"].isin(flagged)
    out["age_band"] = age_band(frame["age_years"]).to_numpy()
    for column in AID_FLAGS:
        out[column] = frame[column].to_numpy(dtype=float) if column in frame.columns else 0.0
    return out, ScoreSource(month=month, model_id=model_id, published=published)


def scored_months(workspace: Path, spec: Specification, months: list[str], settings: Settings,
                  progress: Progress | None = None) -> tuple[pd.DataFrame, list[ScoreSource]]:
    """:func:`index_month_scores` of each month, stacked."""
    # Months the feature store lacks are built together first: one pass over the claims for all of them.
    store_months(workspace, months, settings, progress=progress)
    frames, sources = [], []
    for i, month in enumerate(months):
        tick(progress, "scores at the index months", i, len(months))
        frame, source = index_month_scores(workspace, spec, month, settings)
        frames.append(frame)
        sources.append(source)
    tick(progress, "scores at the index months", len(months), len(months))
    return pd.concat(frames, ignore_index=True), sources


def _months_after(dates: pd.Series, months: pd.Series) -> np.ndarray:
    """Whole months from each of ``months`` (YYYY-MM) to the month of each of ``dates``."""
    return month_numbers(month_of(pd.to_datetime(dates))) - month_numbers(months)


@dataclass
class Cohort:
    """The candidates of an evaluation (``treated`` 1 for an enrolled child, 0 for a comparison
    candidate) and how many each rule kept."""

    candidates: pd.DataFrame
    attrition: list[tuple[str, int]]


def candidates(program: str, scores: pd.DataFrame, enrolled: pd.DataFrame, pre_months: int) -> Cohort:
    """The enrolled children of each index month and their comparison candidates.

    Enrolled: their first enrolment in ``program`` falls in an index month in which they were
    scored, and they were in no programme in the ``pre_months`` before (an earlier programme would
    blur their pre-period). Candidates: scored that month, not enrolled in ``program`` by its end,
    in no programme in the pre-period or the index month, and flagged or scoring at least as high
    as a child enrolled that month.

    A candidate who enrols later, in this programme or another, stays a comparison for the whole
    follow-up: what comparisons get is usual care, later enrolment included. Leaving them out
    would pick comparisons by their future; following them only until they enrol would keep the
    crisis that got them referred and drop the months after it, and make usual care look worse
    than it is (the synthetic plans showed a null programme "working" that way).
    """
    first = enrolled[enrolled["program"] == program].set_index("person_id")["enrolled_on"]
    own = scores["person_id"].map(month_of(first).astype("string")).astype("string")
    is_index = (own == scores["index_month"]).fillna(False).to_numpy(dtype=bool)
    enrolled_by_then = (own <= scores["index_month"]).fillna(False).to_numpy(dtype=bool)
    any_enrolment = enrolled[["person_id", "enrolled_on"]]

    def served_before(frame: pd.DataFrame, through_index: bool) -> np.ndarray:
        joined = frame[["person_id", "index_month"]].reset_index().merge(any_enrolment, on="person_id")
        gap = _months_after(joined["enrolled_on"], joined["index_month"])
        hit = (gap >= -pre_months) & ((gap <= 0) if through_index else (gap < 0))
        return frame.index.isin(joined.loc[hit, "index"])

    months = set(scores["index_month"])
    treated = scores[is_index]
    steps = [(f"first enrolled in {program} in the months evaluated", int(month_of(first).isin(months).sum())),
             ("... and scored in their enrolment month", len(treated))]
    treated = treated[~served_before(treated, through_index=False)]
    steps.append((f"... and in no programme in the {pre_months} months before", len(treated)))

    pool = scores[~enrolled_by_then]
    lowest = pool["index_month"].map(treated.groupby("index_month")["score"].min())
    high = pool["score"].to_numpy() >= lowest.to_numpy(dtype=float, na_value=np.inf)
    pool = pool[pool["flagged"].to_numpy(dtype=bool) | high]
    pool = pool[~served_before(pool, through_index=True)]
    steps.append(("comparison candidates: flagged or scoring as high, not yet enrolled, in no programme", len(pool)))

    out = pd.concat([treated.assign(treated=1), pool.assign(treated=0)], ignore_index=True)
    out = out.sort_values(["index_month", "treated", "person_id"], ascending=[True, False, True], ignore_index=True)
    return Cohort(candidates=out, attrition=steps)


def with_history(cohort: pd.DataFrame, use: pd.DataFrame, pre_months: int) -> pd.DataFrame:
    """The cohort with each child's use before the index month (what they are matched on).

    Per child: admissions, ED visits, crises and paid per covered month over the ``pre_months``
    before the index month; the acute use (admissions, ED visits, crises) of the three months
    before it, where the crisis that brings a child to a programme usually falls (it is what
    regresses to the mean); and that of the index month itself, apart: an enrolled child's crisis
    comes before the referral, a candidate's may fall in the index month, and a child in crisis
    now is not like one whose crisis has passed.

    Summed from running totals per child and month rather than by joining each candidate to its
    months: a state's plan has about a million candidate rows, and the join would hold 30 million.
    """
    persons = pd.Index(cohort["person_id"].unique())
    index = month_numbers(cohort["index_month"])
    base = int(index.min()) - pre_months
    months = int(index.max()) - base + 2
    rows = persons.get_indexer(use["person_id"])
    keep = rows >= 0
    at = month_numbers(use["month"])[keep] - base
    inside = (at >= 0) & (at < months - 1)
    rows, at = rows[keep][inside], at[inside]
    acute = ["ip_admits", "ed_visits", "bh_crises"]
    values = {name: use[name].to_numpy(dtype=float)[keep][inside] for name in USE_COLUMNS}
    values["acute"] = sum(values[name] for name in acute)
    values["covered"] = np.ones(len(rows))
    who = persons.get_indexer(cohort["person_id"])
    t = index - base

    def totals(name: str, *windows: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
        # running[:, k] is the sum of months before k, so months first..last sum to running[last + 1] - running[first];
        # one grid at a time, each built once
        grid = np.zeros((len(persons), months))
        np.add.at(grid, (rows, at + 1), values[name])
        running = np.cumsum(grid, axis=1)
        return [running[who, last + 1] - running[who, first] for first, last in windows]

    out = cohort.copy()
    before = (t - pre_months, t - 1)
    for column in acute:
        (out[f"{column}_pre"],) = totals(column, before)
    (covered,) = totals("covered", before)
    (paid,) = totals("paid", before)
    out["pmpm_pre"] = np.where(covered > 0, paid / np.maximum(covered, 1), 0.0)
    out["covered_pre_months"] = covered
    out["acute_recent"], out["acute_index"] = totals("acute", (t - 3, t - 1), (t, t))
    return out
