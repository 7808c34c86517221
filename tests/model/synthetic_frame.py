"""A feature frame with known signal, so model tests need neither the lake nor the features stage.

Each child has a lasting latent risk; each month their counts are drawn from it, and the label
is drawn from an exactly known probability ``p_true`` (returned as a truth table, like a
synthetic plan's ``truth/risk.parquet``). ``noise_score`` carries no signal at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskstrat.core.months import add_months
from riskstrat.features import Feature, get_feature


def _test_only(name: str, description: str, monotone: int = 0) -> Feature:
    """A declaration for a column only this frame has (declared like any feature, never shipped)."""
    return Feature(name, "demographics", "population", "value", column=name, description=description,
                   reason=f"{name} {{value}}", kind="count", sources=("eligibility",), monotone=monotone)


#: What the model is trained on: four declared features and two that only this frame has.
DECLARATIONS = [
    get_feature("ed_visits_12m"),
    get_feature("ip_admits_12m"),
    get_feature("bh_condition_groups_12m"),
    _test_only("chronic_conditions", "Chronic condition groups.", monotone=1),
    get_feature("age_years"),
    _test_only("noise_score", "A number unrelated to risk."),
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
