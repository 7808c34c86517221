"""A feature frame with known signal, so model tests need neither the lake nor the features stage.

Each child has a lasting latent risk; each month their counts are drawn from it, and the label
is drawn from an exactly known probability ``p_true`` (returned as a truth table, like a
synthetic plan's ``truth/risk.parquet``). ``noise_score`` carries no signal at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskstrat.design import add_months

DECLARATIONS = [
    {"name": "ed_visits_12m", "description": "{value} ED visits in the last 12 months", "window": "12 months", "direction": 1},
    {"name": "ip_admits_12m", "description": "{value} inpatient admissions in the last 12 months", "window": "12 months", "direction": 1},
    {"name": "bh_condition_groups_12m", "description": "behavioural-health diagnosis in the last 12 months", "window": "12 months", "direction": 1},
    {"name": "chronic_conditions", "description": "{value} chronic condition groups", "window": "24 months", "direction": 1},
    {"name": "age_years", "description": "age {value}", "window": "as of", "direction": 0},
    {"name": "noise_score", "description": "a number unrelated to risk", "window": "as of", "direction": 0},
]


def make_frame(children: int = 3000, first: str = "2023-06", months: int = 24, seed: int = 0,
               base: float = -3.6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(feature frame with label, truth with p_true) for ``children`` over ``months`` as-of months."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(0, 1, children)
    bh = rng.random(children) < 0.18
    chronic = rng.poisson(np.exp(0.3 * latent - 0.5))
    age0 = rng.integers(0, 18, children)
    ids = np.array([f"P{i:07d}" for i in range(children)])
    frames = []
    for k in range(months):
        as_of = add_months(first, k)
        ed = rng.poisson(np.exp(0.8 * latent - 0.7))
        ip = rng.poisson(np.exp(0.9 * latent - 2.4))
        logit = base + 0.55 * latent + 0.35 * np.log1p(ed) + 0.5 * np.log1p(ip) + 0.6 * bh + 0.25 * np.minimum(chronic, 3)
        p = 1 / (1 + np.exp(-logit))
        frames.append(pd.DataFrame({
            "person_id": ids, "as_of": as_of, "ed_visits_12m": ed, "ip_admits_12m": ip, "bh_condition_groups_12m": bh.astype(int),
            "chronic_conditions": chronic, "age_years": age0 + k // 12, "noise_score": rng.normal(0, 1, children),
            "label": (rng.random(children) < p).astype(int), "p_true": p,
        }))
    frame = pd.concat(frames, ignore_index=True)
    truth = frame[["person_id", "as_of", "p_true"]].rename(columns={"as_of": "month"})
    truth["person_id"] = truth["person_id"].astype("string")
    return frame.drop(columns="p_true"), truth
