"""The hidden health process of children and its exact truth.

Each child carries fixed traits and three monthly discrete states:

* ``bh``     behavioural health: 0 well, 1 mild, 2 moderate, 3 crisis (the child's own chain)
* ``flare``  chronic-condition flare: 0/1 (only children with a chronic condition flare)
* ``social`` household social state: 0 stable, 1 strained, 2 crisis (shared by siblings)

Transition matrices depend on traits only, never on calendar time, so the chain is
time-homogeneous within the window. Each month's acute events are Poisson given that month's
state. Every outcome in :data:`OUTCOMES` (an event of some kinds, or two or more of others, in
T+1..T+6) therefore has a probability that one backward recursion over (bh, flare, social,
events counted so far) computes exactly: :func:`outcome_probability`.

One function, :func:`event_rates`, gives the rates to both the simulation and the recursion, so
the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from riskstrat.synth.clinical import BH_PROFILES, CONDITIONS
from riskstrat.synth.population import CHILD_ONLY, FOSTER, Population

N_BH, N_FLARE, N_SOCIAL = 4, 2, 3
KINDS = ("ip_medical", "ip_psych", "ed_bh", "ed_other")
IP_MED, IP_PSY, ED_BH, ED_OTHER = range(4)
HORIZON = 6
BURN_IN = 36


@dataclass(frozen=True)
class Outcome:
    """Something that happens to a child in T+1..T+HORIZON: an event of any ``immediate`` kind, or
    two or more events of the ``counted`` kinds together."""
    immediate: tuple[int, ...]
    counted: tuple[int, ...]


# The outcome of each care programme's model, by the name truth/risk.parquet gives it (p_<name>).
# bh_crisis also counts self-harm or a suicide attempt coded on any claim: the generator codes
# them only on the claims of BH ED visits and psychiatric stays (encounters.acute; outpatient BH
# visits code ideation only), so those two kinds already hold every such child-month.
OUTCOMES: dict[str, Outcome] = {
    # any inpatient stay, any BH ED visit, or 2+ ED visits (a BH ED visit already counts on its own)
    "acute_event": Outcome(immediate=(IP_MED, IP_PSY, ED_BH), counted=(ED_OTHER,)),
    # Stronger Together: a psychiatric stay, a BH ED visit, or self-harm or a suicide attempt coded
    "bh_crisis": Outcome(immediate=(IP_PSY, ED_BH), counted=()),
    # CARES: any inpatient stay, or 2+ ED visits of either kind
    "cares_acute": Outcome(immediate=(IP_MED, IP_PSY), counted=(ED_BH, ED_OTHER)),
}

SOCIAL_MULT_ONSET = np.array([1.0, 1.8, 3.5])
SOCIAL_MULT_ED = np.array([1.0, 1.25, 1.7])
# ED visits per child-month by age band (0, 1-4, 5-11, 12-17, 18-20), before propensity.
ED_AGE_BANDS = np.array([1, 5, 12, 18])
ED_AGE_RATE = np.array([0.062, 0.044, 0.024, 0.028, 0.037])


@dataclass
class ChildTraits:
    """Children's fixed traits (indexed by child, not by person)."""
    person: np.ndarray        # person index of each child
    hh: np.ndarray
    age0: np.ndarray          # age in years at the start of the window (0 for the unborn)
    pmca: np.ndarray          # 0 none, 1 non-complex chronic, 2 complex chronic
    cond: np.ndarray          # (n, 2) index into CONDITIONS or -1
    bh_profile: np.ndarray    # index into BH_PROFILES
    bh_liability: np.ndarray
    engagement: np.ndarray    # chance a month with symptoms turns into a visit
    ed_propensity: np.ndarray
    adherence: np.ndarray
    death_hazard: np.ndarray
    foster: np.ndarray


def assign_traits(pop: Population, rng: np.random.Generator) -> ChildTraits:
    """Each child's fixed traits: PMCA class and conditions, BH profile and liability, engagement."""
    person = np.flatnonzero(pop.is_child)
    n = len(person)
    hh = pop.hh[person]
    age0 = np.maximum((pop.month_start[0] - pop.birth[person]) / 365.25, 0.0)
    boy = pop.sex[person] == 1
    foster = pop.hh_kind[person] == FOSTER
    adversity = np.minimum(pop.hh_adversity[hh], 4.0)

    u = rng.random(n)
    p_complex = np.where(foster, 0.12, 0.06)
    pmca = np.where(u < p_complex, 2, np.where(u < p_complex + 0.21, 1, 0)).astype(np.int8)
    w_nc = np.array([c.weight_noncomplex for c in CONDITIONS])
    w_c = np.array([c.weight_complex for c in CONDITIONS])
    cond = np.full((n, 2), -1, dtype=np.int16)
    nc = pmca == 1
    cond[nc, 0] = rng.choice(len(CONDITIONS), size=int(nc.sum()), p=w_nc / w_nc.sum())
    cx = pmca == 2
    first = rng.choice(len(CONDITIONS), size=int(cx.sum()), p=w_c / w_c.sum())
    second = rng.choice(len(CONDITIONS), size=int(cx.sum()), p=w_c / w_c.sum())
    second = np.where(second == first, (second + 1) % len(CONDITIONS), second)
    cond[cx, 0], cond[cx, 1] = first, second

    age_factor = np.select([age0 < 3, age0 < 6, age0 < 12, age0 < 18], [0.3, 0.6, 1.0, 1.5], 1.3)
    sex_factor = np.where(age0 < 12, np.where(boy, 1.25, 0.8), np.where(boy, 0.85, 1.2))
    bh_liability = (rng.lognormal(-0.35, 0.75, n) * adversity ** 0.6 * age_factor * sex_factor
                    * np.where(foster, 1.8, 1.0) * np.where(pop.hh_kind[person] == CHILD_ONLY, 1.3, 1.0))

    band = np.select([age0 < 6, age0 < 12], [0, 1], 2)
    w = np.array([[p.w_young, p.w_school, p.w_teen] for p in BH_PROFILES])  # (profiles, bands)
    boyf = np.array([p.boy_factor for p in BH_PROFILES])
    weights = w[:, band].T * np.where(boy[:, None], boyf[None, :], 1.0)
    weights[foster, 5] *= 4.0  # trauma and attachment disorders in foster care
    cum = np.cumsum(weights / weights.sum(1, keepdims=True), axis=1)
    bh_profile = (rng.random(n)[:, None] > cum).sum(1).clip(0, len(BH_PROFILES) - 1).astype(np.int8)

    engagement = rng.beta(5.0, 2.0, n) * np.where(adversity > 1.8, 0.8, 1.0)
    ed_propensity = rng.gamma(2.0, 0.5, n)
    adherence = rng.beta(3.0, 1.6, n)
    death_hazard = np.where(pop.birth_month[person] >= 0, 0.00008, 0.00003)
    return ChildTraits(person=person, hh=hh, age0=age0, pmca=pmca, cond=cond, bh_profile=bh_profile,
                       bh_liability=bh_liability, engagement=engagement, ed_propensity=ed_propensity,
                       adherence=adherence, death_hazard=death_hazard, foster=foster)


@dataclass
class ChainParams:
    """Transition matrices of the three latent chains."""
    p_social: np.ndarray  # (households, 3, 3)
    p_flare: np.ndarray   # (children, 2, 2)
    p_bh: np.ndarray      # (children, 3 social', 4, 4)


def social_matrix(adversity: np.ndarray) -> np.ndarray:
    """Monthly transition matrix of each household's social state; adversity raises strain and crisis."""
    a = np.minimum(adversity, 4.0)
    P = np.zeros((len(a), 3, 3))
    P[:, 0, 1], P[:, 0, 2] = 0.022 * a, 0.004 * a
    P[:, 1, 0], P[:, 1, 2] = 0.12, 0.03 * a
    P[:, 2, 0], P[:, 2, 1] = 0.05, 0.25
    for s in range(3):
        P[:, s, s] = 1.0 - P[:, s].sum(1)
    return P


def chain_params(pop: Population, tr: ChildTraits) -> ChainParams:
    """Per-child flare and BH transition matrices (BH conditional on the new social state)."""
    n = len(tr.person)
    p_social = social_matrix(pop.hh_adversity)
    p_fl = np.zeros((n, 2, 2))
    up = np.select([tr.pmca == 2, tr.pmca == 1], [0.07, 0.03], 0.0)
    down = np.where(tr.pmca == 2, 0.5, 0.65)
    p_fl[:, 0, 1], p_fl[:, 0, 0] = up, 1 - up
    p_fl[:, 1, 0], p_fl[:, 1, 1] = down, 1 - down

    L = tr.bh_liability[:, None]
    P = np.zeros((n, 3, 4, 4))
    onset = np.minimum(0.013 * L * SOCIAL_MULT_ONSET[None, :], 0.5)      # (n, social')
    P[:, :, 0, 1], P[:, :, 0, 2] = 0.8 * onset, 0.2 * onset
    P[:, :, 1, 0] = 0.07
    P[:, :, 1, 2] = 0.03 * np.array([1.0, 1.5, 2.5])[None, :]
    P[:, :, 2, 0], P[:, :, 2, 1] = 0.02, 0.10
    P[:, :, 2, 3] = np.minimum(0.010 * np.sqrt(L) * np.array([1.0, 1.8, 3.5])[None, :], 0.3)
    P[:, :, 3, 1], P[:, :, 3, 2] = 0.10, 0.55
    for b in range(4):
        P[:, :, b, b] = 1.0 - P[:, :, b].sum(-1)
    return ChainParams(p_social=p_social, p_flare=p_fl, p_bh=P)


def event_rates(tr: ChildTraits, bh, flare, social, idx=slice(None), grid: bool = False) -> np.ndarray:
    """Monthly Poisson rates of the four acute event kinds, stacked on the last axis.

    With ``grid=False`` the states are one per child selected by ``idx``; with ``grid=True`` they
    are a state grid that every selected child gets (trait arrays get trailing axes), so the
    same formula serves the simulation and the recursion.
    """
    bh, flare, social = np.asarray(bh), np.asarray(flare), np.asarray(social)
    extra = max(bh.ndim, flare.ndim, social.ndim) if grid else 0

    def t(a):
        a = a[idx]
        return a.reshape(a.shape + (1,) * extra) if extra > 0 else a

    age0, pmca, prop = t(tr.age0), t(tr.pmca), t(tr.ed_propensity)
    complex_ = (pmca == 2).astype(float)
    ip_med = (0.0007 + 0.004 * complex_ + np.where(age0 < 1, 0.003, 0.0)
              + flare * np.where(pmca == 2, 0.08, 0.015))
    ip_psy = np.select([bh == 3, bh == 2], [0.30, 0.003], 0.0)
    ed_bh = np.select([bh == 3, bh == 2], [0.45, 0.012], 0.0) + np.where((bh >= 1) & (social == 2), 0.004, 0.0)
    base = ED_AGE_RATE[np.searchsorted(ED_AGE_BANDS, age0, side="right")]
    ed_other = base * prop * (1.0 + 2.0 * flare) * SOCIAL_MULT_ED[social]
    shape = np.broadcast_shapes(ip_med.shape, ip_psy.shape, ed_bh.shape, ed_other.shape)
    return np.stack([np.broadcast_to(x, shape) for x in (ip_med, ip_psy, ed_bh, ed_other)], axis=-1)


def outcome_probability(tr: ChildTraits, cp: ChainParams, outcomes: Iterable[Outcome],
                        chunk: int = 1_000) -> np.ndarray:
    """P(outcome in the next HORIZON months | state now), exact, for every child, state and outcome.

    Returns (children, 4 bh, 2 flare, 3 social, outcomes) in float32. The recursion carries
    W(s, c): the chance of no outcome in the remaining months given state s and c in {0, 1}
    counted events so far (an outcome that counts nothing has c = 0 only). A month without
    outcome has no event of an immediate kind and at most one counted event in total; death
    (hazard h, at the start of a month) ends the window without an outcome. The (outcome, c)
    pairs are columns of one W, so one set of matrix products steps every outcome.
    """
    outcomes = tuple(outcomes)
    n = len(tr.person)
    # Columns: c = 0 of each outcome that counts, then their c = 1 in the same order (a counted
    # event moves column j < k to j + k), then the outcomes that count nothing.
    counting = [o for o in outcomes if o.counted]
    k = len(counting)
    columns = counting + counting + [o for o in outcomes if not o.counted]
    first = [columns.index(o) for o in outcomes]
    n_c = len(columns)
    matters = _kind_matrix([o.immediate + o.counted for o in columns])
    moves = _kind_matrix([o.counted for o in counting])
    # float32 (7 significant digits) halves what the plan holds, here and per child-month, for
    # every outcome; the recursion itself runs in float64.
    out = np.empty((n, N_BH, N_FLARE, N_SOCIAL, len(outcomes)), np.float32)
    # State grid in the order (social, bh, flare) so each sum is one batched matrix product.
    s = np.arange(N_SOCIAL)[:, None, None]
    b = np.arange(N_BH)[None, :, None]
    f = np.arange(N_FLARE)[None, None, :]
    # Chunks of a thousand children keep each step's arrays in the CPU cache: for 270k children
    # the recursion took 2.8 CPU s on the project machine, against 5.9 s in chunks of 50k.
    for lo in range(0, n, chunk):
        sl = slice(lo, min(lo + chunk, n))
        m = sl.stop - sl.start
        lam = event_rates(tr, b, f, s, sl, grid=True)           # (m, soc, bh, fl, kinds)
        p0 = np.exp(-(lam @ matters))                           # no event that matters this month
        p1 = p0[..., :k] * (lam @ moves)                        # the same but one counted event
        h = tr.death_hazard[sl][:, None, None, None, None]
        P_bh = cp.p_bh[sl]                                      # (m, soc', bh, bh')
        P_fl = cp.p_flare[sl][:, None]                          # (m, 1, fl, fl')
        P_so = cp.p_social[tr.hh[sl]] * (1.0 - h[..., 0, 0])    # (m, soc, soc'), times survival
        W = np.ones(p0.shape)                                   # (m, soc, bh, fl, columns)
        for _ in range(HORIZON):
            g = p0 * W
            g[..., :k] += p1 * W[..., k:2 * k]
            A = P_bh @ g.reshape(m, N_SOCIAL, N_BH, N_FLARE * n_c)                   # over bh' given soc'
            B = P_fl @ A.reshape(m, N_SOCIAL * N_BH, N_FLARE, n_c)                    # over flare'
            C = P_so @ B.reshape(m, N_SOCIAL, N_BH * N_FLARE * n_c)                   # over soc'
            W = C.reshape(W.shape) + h                                                # dead: no outcome
        out[sl] = (1.0 - W[..., first]).transpose(0, 2, 3, 1, 4)
    return out


def _kind_matrix(kind_sets: list[tuple[int, ...]]) -> np.ndarray:
    """(kinds, sets): 1.0 where the kind is in the set, so rates @ matrix sums each set's rates."""
    return np.array([[j in kinds for kinds in kind_sets] for j in range(len(KINDS))], float).reshape(len(KINDS), -1)


def _draw(P_rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of probabilities."""
    cum = np.cumsum(P_rows, axis=-1)
    u = rng.random(P_rows.shape[0])[:, None]
    return np.minimum((u > cum[:, :-1]).sum(-1), P_rows.shape[-1] - 1).astype(np.int8)


@dataclass
class ChainState:
    """The latent states of one month."""
    social: np.ndarray  # per household
    bh: np.ndarray      # per child
    flare: np.ndarray


def step(state: ChainState, tr: ChildTraits, cp: ChainParams, rng: np.random.Generator) -> ChainState:
    """One month of the chain, in the order the recursion assumes: social, flare, then bh given
    the new social state."""
    social = _draw(cp.p_social[np.arange(len(state.social)), state.social], rng)
    n = len(tr.person)
    idx = np.arange(n)
    flare = _draw(cp.p_flare[idx, state.flare], rng)
    bh = _draw(cp.p_bh[idx, social[tr.hh], state.bh], rng)
    return ChainState(social=social, bh=bh, flare=flare)


def initial_state(pop: Population, tr: ChildTraits, cp: ChainParams, rng: np.random.Generator) -> ChainState:
    """Run the chain from everyone well for BURN_IN months so month 0 starts near equilibrium."""
    st = ChainState(social=np.zeros(pop.n_households, np.int8), bh=np.zeros(len(tr.person), np.int8),
                    flare=np.zeros(len(tr.person), np.int8))
    for _ in range(BURN_IN):
        st = step(st, tr, cp, rng)
    return st
