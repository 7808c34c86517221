"""Providers: NPIs with a valid check digit, grouped by kind, and the hospitals that send ADT."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from riskstrat.synth import reference as ref

KINDS = ("pcp", "bh", "specialist", "ed", "hospitalist", "dentist", "prescriber", "pharmacy")
# Rendering providers per 1,000 members by kind; billing groups hold about eight each.
PER_1000 = np.array([3.0, 2.0, 2.0, 0.6, 0.5, 1.0, 0.0, 0.6])


def npi_check_digit(base9: np.ndarray) -> np.ndarray:
    """Luhn check digit of a 9-digit NPI base, with the 80840 card-issuer prefix (CMS rule)."""
    digits = (base9[:, None] // 10 ** np.arange(8, -1, -1)) % 10          # left to right
    doubled = digits[:, 0::2] * 2
    total = 24 + (doubled // 10 + doubled % 10).sum(1) + digits[:, 1::2].sum(1)
    return (10 - total % 10) % 10


def make_npis(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct 10-digit NPIs with valid check digits."""
    base = 100_000_000 + rng.choice(899_999_999, size=n, replace=False) if n < 5_000_000 else None
    return base * 10 + npi_check_digit(base)


@dataclass
class Providers:
    """The provider network, as indices into one NPI array."""
    npi: np.ndarray            # int64, all NPIs (rendering, billing groups, facilities)
    rendering: dict            # kind -> indices into npi
    billing_of: np.ndarray     # rendering index -> billing group index (into npi)
    hospitals: np.ndarray      # indices into npi, in reference.HOSPITALS order
    hospital_adt: np.ndarray   # bool: hospital feeds the HIE

    def arrow(self, idx: np.ndarray) -> pa.Array:
        """NPI strings for indices (-1 gives null)."""
        idx = np.asarray(idx)
        mask = idx < 0
        vals = self.npi[np.where(mask, 0, idx)]
        return pa.array(vals, pa.int64(), mask=mask if mask.any() else None).cast(pa.string())


def build_providers(members: int, rng: np.random.Generator) -> Providers:
    """A provider network sized to the plan: rendering NPIs by kind, billing groups, hospitals."""
    counts = np.maximum(np.ceil(PER_1000 * members / 1000).astype(int), 4)
    n_render = int(counts.sum())
    n_groups = int(np.ceil(n_render / 8)) + len(KINDS)
    n_hosp = len(ref.HOSPITALS)
    npi = make_npis(rng, n_render + n_groups + n_hosp)
    rendering, start = {}, 0
    billing_of = np.empty(n_render, dtype=np.int64)
    g = n_render
    for kind, c in zip(KINDS, counts):
        idx = np.arange(start, start + c)
        rendering[kind] = idx
        groups = max(1, c // 8)
        billing_of[idx] = g + rng.integers(0, groups, c)
        g += groups
        start += c
    hospitals = np.arange(n_render + n_groups, n_render + n_groups + n_hosp)
    adt = np.array([h[1] for h in ref.HOSPITALS])
    return Providers(npi=npi, rendering=rendering, billing_of=billing_of, hospitals=hospitals, hospital_adt=adt)
