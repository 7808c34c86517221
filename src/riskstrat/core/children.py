"""A fixed number per child, from a hash of person_id: how children are split into folds and sampled.

Each use has its own salt, so the fold split and a sample do not line up.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def _unit_hash(ids: np.ndarray, salt: str) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.sha256(f"{salt}:{pid}".encode()).digest()[:8], "big") / 2**64
                     for pid in ids])


def child_hash(person_ids: pd.Series, salt: str, cache: dict[str, float] | None = None) -> np.ndarray:
    """A number in [0, 1) per row from a fixed hash of ``person_id``: the same in every process and retrain.

    sha256 rather than Python's ``hash`` so the split could be reproduced in SQL; ``cache`` saves
    re-hashing the same children month after month.
    """
    cache = {} if cache is None else cache
    codes, uniques = pd.factorize(person_ids.astype("string"))
    uniques = np.asarray(uniques, dtype=object)
    values = np.array([cache.get(pid, np.nan) for pid in uniques], dtype=float)
    new = np.flatnonzero(np.isnan(values))
    if len(new):
        values[new] = _unit_hash(uniques[new], salt)
        cache.update(zip(uniques[new].tolist(), values[new].tolist()))
    return values[codes] if len(values) else np.zeros(len(person_ids))
