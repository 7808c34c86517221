"""Matching each enrolled child to comparison children of the same index month, and checking the balance.

The propensity model (statsmodels' logistic regression) gives each candidate the log-odds of
enrolling from what a programme sees when it picks children: the riskstrat score, use in the
year before and in the last three months, age band, aid category and whether the programme's
population rule admits them. Each enrolled child, hardest to match first, then takes up to
``evaluation.comparisons_per_child`` candidates of the same index month that are alike where a
distance alone would blur it (:func:`exact_cells`, :data:`COUNT_CALIPER`), whose log-odds lie
within a caliper of 0.2 standard deviations (Austin 2011), nearest on all covariates by
Mahalanobis distance (Rubin and Thomas 2000); each candidate is used once. Balance is the
standardised mean difference of every covariate, before and after matching, against one pooled
standard deviation from before, so the two are comparable (|SMD| < 0.1 is the usual bar).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from riskstrat.audit.fairness import AGE_BANDS
from riskstrat.evaluation.cohort import AID_FLAGS, EvaluationError

#: What each covariate is called in the report.
COVARIATE_LABELS = {
    "logit_score": "riskstrat score (log-odds) at the index month",
    "ip_admits_pre": "acute admissions, 12 months before",
    "ed_visits_pre": "ED visits, 12 months before",
    "bh_crises_pre": "behavioural-health crises, 12 months before",
    "pmpm_pre": "paid per member per month, 12 months before",
    "acute_recent": "acute use in the 3 months before",
    "acute_index": "acute use in the index month",
    "in_population": "admitted by the programme's population rule",
    **{f"age_{label}": f"age {label}" for _, _, label in AGE_BANDS[1:]},
    **{flag: flag.replace("aid_", "aid category: ").replace("_", " ") for flag in AID_FLAGS},
}


def covariates(cohort: pd.DataFrame) -> pd.DataFrame:
    """The matching covariates of each candidate (columns named as :data:`COVARIATE_LABELS`).

    The youngest age band is the reference level; a level or flag no candidate has is left out.
    """
    score = np.clip(cohort["score"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
    x = pd.DataFrame({
        "logit_score": np.log(score / (1 - score)),
        "ip_admits_pre": cohort["ip_admits_pre"], "ed_visits_pre": cohort["ed_visits_pre"],
        "bh_crises_pre": cohort["bh_crises_pre"], "pmpm_pre": cohort["pmpm_pre"],
        "acute_recent": cohort["acute_recent"], "acute_index": cohort["acute_index"],
        "in_population": cohort["in_population"].astype(float),
    }, index=cohort.index)
    for _, _, label in AGE_BANDS[1:]:
        x[f"age_{label}"] = (cohort["age_band"] == label).astype(float)
    for flag in AID_FLAGS:
        x[flag] = cohort[flag].astype(float)
    varying = x.columns[x.std(ddof=0).to_numpy() > 0]
    return x[varying].astype(float)


def propensity(x: pd.DataFrame, treated: np.ndarray) -> np.ndarray:
    """Log-odds of enrolment per candidate, from a logistic regression on ``x`` (plus an intercept).

    Fitted as a binomial GLM by iteratively reweighted least squares, which copes with
    covariates that nearly separate the groups (a rare aid category with no enrolled child); if
    even that fails, a slightly ridge-penalised fit is used.
    """
    design = sm.add_constant(_scaled(x), has_constant="add")
    model = sm.GLM(treated.astype(float), design, family=sm.families.Binomial())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            params = model.fit(maxiter=100).params
        except (np.linalg.LinAlgError, ValueError):
            params = model.fit_regularized(alpha=1e-4, L1_wt=0.0, maxiter=500).params
    return design.to_numpy() @ np.asarray(params)


#: Counts and amounts, skewed (most children none, a few many): matched and fitted on log(1 + value),
#: so one admission against none weighs more than eleven against ten.
SKEWED = ("ip_admits_pre", "ed_visits_pre", "bh_crises_pre", "pmpm_pre", "acute_recent", "acute_index")


def _scaled(x: pd.DataFrame, logged: bool = True) -> pd.DataFrame:
    """The covariates on one scale: each centred and divided by its standard deviation, the skewed
    ones logged first unless ``logged`` is False (distances: the balance is judged on the raw means,
    so the matches are made close on the raw values)."""
    x = x.copy()
    for column in SKEWED if logged else ():
        if column in x:
            x[column] = np.log1p(x[column])
    sd = x.std(ddof=0).replace(0, 1.0)
    return (x - x.mean()) / sd


def match(cohort: pd.DataFrame, x: pd.DataFrame, logit: np.ndarray, caliper_sd: float,
          per_child: int) -> tuple[pd.DataFrame, int]:
    """Up to ``per_child`` comparisons per enrolled child, within its index month: (pairs, enrolled
    children left unmatched).

    Among the candidates of the same cell (:func:`exact_cells`) whose propensity log-odds and
    riskstrat score (log-odds) each lie within the caliper (the score is what the programme ranks
    on, so it gets a caliper of its own) and whose use is within :data:`COUNT_CALIPER`, the nearest
    by Mahalanobis distance on the covariates are taken (Rubin and Thomas 2000): the propensity
    keeps the groups comparable as a whole, the cells and the distance make each match close on
    every covariate, which is what the balance is judged on. Each candidate is used once. The
    order is deterministic: the enrolled child with the highest log-odds goes first (the hardest
    to match), ties by person_id. ``pairs``: ``treated_row``, ``comparison_row`` (cohort rows) and
    ``weight`` (1 / the comparisons that child got).
    """
    caliper = caliper_sd * float(np.std(logit))
    z = _scaled(x, logged=False).to_numpy()
    inverse = np.linalg.pinv(np.cov(z, rowvar=False))
    category = exact_cells(x)
    use = x[[c for c in ANY_OF + ("ed_visits_pre",) if c in x]].to_numpy()
    score = x["logit_score"].to_numpy() if "logit_score" in x else np.zeros(len(x))
    score_caliper = caliper_sd * float(np.std(score))
    pairs, unmatched = [], 0
    frame = cohort[["index_month", "person_id", "treated"]].assign(logit=logit, row=np.arange(len(cohort)))
    for _, month in frame.groupby("index_month", sort=True):
        enrolled = month[month["treated"] == 1].sort_values(["logit", "person_id"], ascending=[False, True])
        pool = month[month["treated"] == 0].sort_values("person_id")
        rows = pool["row"].to_numpy()
        values, kinds, counts, scores = pool["logit"].to_numpy(), category[rows], use[rows], score[rows]
        free = np.ones(len(pool), bool)
        for t_logit, t_row in zip(enrolled["logit"].to_numpy(), enrolled["row"].to_numpy(), strict=True):
            near = np.flatnonzero(free & (kinds == category[t_row])
                                  & (np.abs(counts - use[t_row]) <= COUNT_CALIPER).all(axis=1)
                                  & (np.abs(scores - score[t_row]) <= score_caliper)
                                  & (np.abs(values - t_logit) <= caliper))
            if not len(near):
                unmatched += 1
                continue
            diff = z[rows[near]] - z[t_row]
            distance = np.einsum("ij,jk,ik->i", diff, inverse, diff)
            # a stable sort: equal distances keep the pool's person_id order
            best = near[np.argsort(distance, kind="stable")[:per_child]]
            free[best] = False
            pairs.extend((t_row, r, 1.0 / len(best)) for r in rows[best])
    return pd.DataFrame(pairs, columns=["treated_row", "comparison_row", "weight"]), unmatched


#: Matched exactly: whether the child had any of these (the rare events a close distance can still miss).
ANY_OF = ("ip_admits_pre", "bh_crises_pre", "acute_recent", "acute_index")
#: A comparison's admissions, crises, recent and index-month acute use and ED visits each differ
#: from the enrolled child's by at most this many: the children with the most use are few, and a
#: distance alone pairs them with whoever is nearest, however far.
COUNT_CALIPER = 1


def exact_cells(x: pd.DataFrame) -> np.ndarray:
    """Each candidate's cell of the exact match: age band, aid category, population rule, and
    whether they had an admission, a crisis, recent acute use or acute use in the index month at
    all. A child is matched only within their cell: a few enrolled children differing from their
    comparisons in a category shift its mean by more than the balance allows."""
    columns = [c for c in x.columns if c == "in_population" or c.startswith(("age_", "aid_"))]
    cells = x[columns].copy()
    for column in ANY_OF:
        if column in x:
            cells[f"any_{column}"] = x[column] > 0
    return pd.factorize(pd.MultiIndex.from_frame(cells) if len(cells.columns) else pd.Index(np.zeros(len(x))))[0]


def balance(x: pd.DataFrame, treated: np.ndarray, pairs: pd.DataFrame) -> pd.DataFrame:
    """Standardised mean differences (enrolled minus comparison) per covariate, before and after
    matching; after, each comparison weighs 1 / the comparisons its enrolled child got."""
    t, c = treated == 1, treated == 0
    pooled = np.sqrt((x[t].var(ddof=1) + x[c].var(ddof=1)) / 2).replace(0, np.nan)
    before = (x[t].mean() - x[c].mean()) / pooled
    matched = x.iloc[np.unique(pairs["treated_row"])].mean()
    weights = pairs["weight"].to_numpy()
    comparisons = (x.iloc[pairs["comparison_row"]].mul(weights, axis=0).sum()) / weights.sum()
    after = (matched - comparisons) / pooled
    out = pd.DataFrame({
        "covariate": x.columns,
        "label": [COVARIATE_LABELS.get(name, name) for name in x.columns],
        "enrolled_mean": matched.to_numpy(),
        "comparison_mean_before": x[c].mean().to_numpy(),
        "comparison_mean_after": comparisons.to_numpy(),
        "smd_before": before.fillna(0.0).to_numpy(),
        "smd_after": after.fillna(0.0).to_numpy(),
    })
    return out.round(6)


def require_pairs(pairs: pd.DataFrame, program: str) -> None:
    """Refuse an evaluation in which no enrolled child found a comparison."""
    if pairs.empty:
        raise EvaluationError(f"{program}: no enrolled child has a comparison child within the caliper; "
                              "widen evaluation.caliper or the months")
