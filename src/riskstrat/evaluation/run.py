"""``riskstrat evaluate``: did a programme work? The recipe, and the folder it writes.

    enrolments (care_management + outreach log) and the scores at each index month
    -> candidates (cohort.candidates) -> their use before (cohort.with_history)
    -> propensity and 1:1 matches within the month (matching) -> balance
    -> the month-by-month panel of the matched units (estimate.unit_panel)
    -> difference-in-differences per outcome and window, the naive before/after, the event study
    -> outputs/evaluation/<program>-<from>-<to>/, published whole or not at all

Nothing here depends on the time of day, so the same lake and settings give the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.config import Settings
from riskstrat.core.files import staged_folder, write_atomic
from riskstrat.core.fingerprint import code_fingerprint, lake_fingerprint
from riskstrat.core.months import add_months, check_month, month_end, months_between
from riskstrat.core.progress import Progress, tick
from riskstrat.core.sql import scalar
from riskstrat.core.workspace import OUTPUTS
from riskstrat.evaluation import estimate, matching
from riskstrat.evaluation.cohort import (
    EvaluationError,
    candidates,
    enrolments,
    monthly_use,
    programme_spec,
    scored_months,
    with_history,
)
from riskstrat.evaluation.report import render_report
from riskstrat.evaluation.result import Evaluation
from riskstrat.features.build import open_lake
from riskstrat.lake import latest_delivery

EVALUATION_DUCKDB_MEMORY = "1500MB"

#: The files of an evaluation folder.
FILES = ("report.html", "effects.csv", "balance.csv", "cohort.parquet", "evaluation.json")


def evaluation_dir(workspace: Path | str, program: str, first: str, last: str) -> Path:
    """``W/outputs/evaluation/<program>-<from>-<to>/``."""
    return Path(workspace) / OUTPUTS / "evaluation" / f"{program}-{first}-{last}"


def _check_months(first: str, last: str, lake_first: str, matured: str, settings: Settings) -> tuple[list[int], list[int]]:
    check_month(first, "--from")
    check_month(last, "--to")
    if first > last:
        raise EvaluationError(f"--from {first} is after --to {last}")
    ev = settings.evaluation
    start = add_months(first, -ev.pre_months)
    if start < lake_first:
        raise EvaluationError(f"the {ev.pre_months} months before {first} start in {start}, "
                              f"before the lake's first delivery ({lake_first})")
    observable = [k for k in ev.post_months if add_months(last, k) <= matured]
    if not observable:
        k = min(ev.post_months)
        raise EvaluationError(f"{k} months after {last} need claims through {add_months(last, k)}; the lake's "
                              f"claims are complete through {matured} (latest delivery less the run-out)")
    return observable, [k for k in ev.post_months if k not in observable]


def evaluate_programme(workspace: Path | str, program: str, first: str, last: str,
                       settings: Settings | None = None, progress: Progress | None = None) -> Evaluation:
    """Evaluate ``program`` for the children who enrolled from ``first`` to ``last`` and publish the folder."""
    workspace = Path(workspace)
    settings = settings or Settings()
    ev = settings.evaluation
    # The scores of every index month and the candidates are held beside DuckDB here, so DuckDB
    # gets less of the 4 GB than the feature stage gives it, and spills sooner.
    con = open_lake(workspace, memory_limit=EVALUATION_DUCKDB_MEMORY)
    try:
        latest = latest_delivery(con)
        lake_first = scalar(con, "SELECT MIN(delivery_month) FROM eligibility")
        matured = add_months(latest, -settings.model.runout_months)
        windows, unobservable = _check_months(first, last, lake_first, matured, settings)
        longest = max(windows)
        known = enrolments(con, workspace, settings, month_end(matured))
        named = sorted(set(known["program"].dropna()))
        if program not in named:
            raise EvaluationError(f"{program}: no enrolment names this programme (care_management and the outreach "
                                  f"log name: {', '.join(named) or 'none'})")
        spec = programme_spec(workspace, program, settings)
        scores, sources = scored_months(workspace, spec, months_between(first, last), settings, progress)
        cohort = candidates(program, scores, known, ev.pre_months)
        n_enrolled = int(cohort.candidates["treated"].sum())
        if n_enrolled < ev.min_enrolled:
            raise EvaluationError(f"{program}: {n_enrolled} enrolled children from {first} to {last} can be evaluated; "
                                  f"an evaluation needs at least {ev.min_enrolled}")
        tick(progress, "use month by month", 0, 1)
        use = monthly_use(con, add_months(first, -ev.pre_months), add_months(last, longest), matured,
                          cohort.candidates["person_id"])
        tick(progress, "use month by month", 1, 1)
    finally:
        con.close()

    frame = with_history(cohort.candidates, use, ev.pre_months)
    x = matching.covariates(frame)
    treated = frame["treated"].to_numpy()
    frame["logit_propensity"] = matching.propensity(x, treated)
    pairs, unmatched = matching.match(frame, x, frame["logit_propensity"].to_numpy(), ev.caliper,
                                      ev.comparisons_per_child)
    matching.require_pairs(pairs, program)
    balance = matching.balance(x, treated, pairs)
    units = estimate.matched_units(frame, pairs)
    children = {"enrolled": int(units.loc[units["treated"] == 1, "person_id"].nunique()),
                "comparison": int(units.loc[units["treated"] == 0, "person_id"].nunique())}
    # The estimates rest on the matched children, not on those enrolled: 30 enrolled of whom 3
    # matched would publish intervals from 3 children.
    if children["enrolled"] < ev.min_enrolled:
        raise EvaluationError(f"{program}: {children['enrolled']} of the {n_enrolled} enrolled children found a "
                              f"comparison within the caliper ({ev.caliper}); an evaluation needs at least "
                              f"{ev.min_enrolled} matched (evaluation.min_enrolled)")
    attrition = [*cohort.attrition, ("enrolled children matched to a comparison", children["enrolled"]),
                 ("their comparison children", children["comparison"])]

    panel = estimate.unit_panel(units, use, ev.pre_months, longest, matured)
    effects, events = [], {}
    for i, outcome in enumerate(estimate.OUTCOMES):
        tick(progress, "estimates", i, len(estimate.OUTCOMES))
        for k in windows:
            data = estimate.window(panel, k)
            d, n = estimate.did(data, outcome), estimate.naive(data, outcome)
            effects.append({"outcome": outcome.label, "months_after": k, "enrolled_children": children["enrolled"],
                            "comparison_children": children["comparison"], "change_percent": d.percent, "low_percent": d.low,
                            "high_percent": d.high, "naive_change_percent": n.percent, "naive_low_percent": n.low,
                            "naive_high_percent": n.high, "model": "Poisson" if outcome.poisson else "linear",
                            "coefficient": d.coefficient, "std_error": d.std_error,
                            "naive_coefficient": n.coefficient, "naive_std_error": n.std_error,
                            **{f"per_child_month_{key}": value for key, value in estimate.rates(data, outcome).items()}})
        events[outcome.label] = estimate.event_study(panel, outcome)
    tick(progress, "estimates", len(estimate.OUTCOMES), len(estimate.OUTCOMES))

    matched = _matched_cohort(units)
    result = Evaluation(program=program, first=first, last=last, spec=spec.name, windows=windows,
                        unobservable=unobservable, effects=pd.DataFrame(effects).round(6), balance=balance,
                        cohort=matched, attrition=attrition, events=events, sources=sources, settings=settings,
                        lake_through=latest,
                        counts={"enrolled": n_enrolled, "matched": children["enrolled"],
                                "comparisons": children["comparison"], "unmatched": unmatched,
                                "candidates": int((treated == 0).sum())})
    result.folder = _publish(workspace, result)
    return result


def _matched_cohort(units: pd.DataFrame) -> pd.DataFrame:
    """cohort.parquet: one row per matched child and index month, its matched set and what it was matched on."""
    columns = ["group", "person_id", "index_month", "treated", "score", "flagged", "in_population", "age_band",
               "ip_admits_pre", "ed_visits_pre", "bh_crises_pre", "pmpm_pre", "acute_recent", "acute_index",
               "logit_propensity"]
    out = units[columns].copy()
    out.insert(1, "role", np.where(out["treated"] == 1, "enrolled", "comparison"))
    out = out.drop(columns="treated").sort_values(["group", "role", "person_id"], ascending=[True, False, True],
                                                  ignore_index=True)
    return out.round({"score": 8, "pmpm_pre": 4, "logit_propensity": 8})


def _manifest(workspace: Path, result: Evaluation) -> dict:
    return {
        "program": result.program, "from": result.first, "to": result.last, "scored_with_list": result.spec,
        "lake_through": result.lake_through,
        "lake": lake_fingerprint(workspace, result.lake_through)["digest"],
        "code": code_fingerprint()["digest"],
        "settings": result.settings.evaluation.model_dump(mode="json"),
        "runout_months": result.settings.model.runout_months,
        "windows": result.windows, "not_yet_observable": result.unobservable,
        "scores": [{"month": s.month, "model_id": s.model_id, "published": s.published} for s in result.sources],
        "children": result.counts,
        "attrition": [{"step": step, "children": n} for step, n in result.attrition],
    }


def _publish(workspace: Path, result: Evaluation) -> Path:
    final = evaluation_dir(workspace, result.program, result.first, result.last)
    with staged_folder(final) as tmp:
        result.effects.to_csv(tmp / "effects.csv", index=False, lineterminator="\n")
        result.balance.to_csv(tmp / "balance.csv", index=False, lineterminator="\n")
        result.cohort.to_parquet(tmp / "cohort.parquet", index=False)
        write_atomic(tmp / "evaluation.json", json.dumps(_manifest(workspace, result), indent=2, sort_keys=True) + "\n")
        write_atomic(tmp / "report.html", render_report(result))
    return final
