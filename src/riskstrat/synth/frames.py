"""A member-level frame of every declared feature, drawn directly rather than through a lake.

Model and scoring tests, and the scoring benchmark at 500k children, need feature frames with a
known signal; building them through synth -> ingest -> features would cost minutes and test
nothing those stages' own tests do not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskstrat.features import FEATURES


def feature_frame(n: int, seed: int | np.random.Generator = 0) -> pd.DataFrame:
    """``n`` children with every declared feature, driven by a hidden ``_latent`` column (kept, so
    callers can build a label with a known relation to the features)."""
    rng = np.random.default_rng(seed)
    data = {"person_id": [f"C{i:05d}" for i in range(n)]}
    latent = rng.normal(0, 1, n)
    for f in FEATURES:
        if f.kind == "flag":
            data[f.name] = (rng.random(n) < 1 / (1 + np.exp(-(latent - 2)))).astype(float)
        elif f.kind in ("count", "months", "ordinal"):
            data[f.name] = rng.poisson(np.exp(0.6 * latent - 1)).astype(float)
        elif f.kind == "years":
            data[f.name] = rng.integers(0, 21, n).astype(float)
        else:
            data[f.name] = np.round(rng.gamma(1.0, 100.0, n) * np.exp(0.3 * latent), 2)
    frame = pd.DataFrame(data)
    frame["pmca_class"] = np.clip(frame["pmca_class"], 0, 2)
    frame["_latent"] = latent
    return frame
