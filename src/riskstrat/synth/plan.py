"""Generate a whole synthetic plan: the month loop that ties the stages together.

Order of a simulated month: the latent chain steps; acute events are drawn from the new
state; enrolled persons' visits, stays, fills, ADT messages, referrals and screenings are
generated; claims are filed under the month they are paid; then, once the lead-in is over,
that month's delivery is written and dropped from memory.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from riskstrat.core.errors import RiskstratError
from riskstrat.core.progress import Progress
from riskstrat.synth import clinical as cl
from riskstrat.synth import defects as df
from riskstrat.synth import encounters as enc
from riskstrat.synth import latent as lt
from riskstrat.synth import programs, writer
from riskstrat.synth import reference as ref
from riskstrat.synth.codes import Codes
from riskstrat.synth.pharmacy import fills
from riskstrat.synth.population import Population, assign_aid, build_population
from riskstrat.synth.providers import build_providers
from riskstrat.synth.spec import LEAD_IN_MONTHS, PlanSpec, PlanSummary


class PlanError(RiskstratError):
    """The plan cannot be written (the message says why, in one line)."""


def _stream(seed: int, *keys: int) -> np.random.Generator:
    # One independent stream per stage and month: changing one stage never reshuffles another.
    return np.random.default_rng([seed, *keys])


def _person_traits(pop: Population, tr: lt.ChildTraits, codes: Codes, prov, rng) -> tuple[enc.PersonTraits, dict]:
    n = pop.n
    c = tr.person
    adult = ~pop.is_child
    pmca = np.zeros(n, np.int8)
    pmca[c] = tr.pmca
    cond = np.full((n, 2), -1, np.int16)
    cond[c] = tr.cond
    cond_code = np.full((n, 2), -1, np.int32)
    for slot in range(2):
        for k, cand in enumerate(codes.dx_conditions):
            who = c[tr.cond[:, slot] == k]
            cond_code[who, slot] = codes.pick(cand, rng, len(who))
    ad = np.flatnonzero(adult)
    has = rng.random(len(ad)) < 0.4
    w = np.array([x.weight_noncomplex for x in cl.ADULT_CONDITIONS])
    ac = rng.choice(len(cl.ADULT_CONDITIONS), size=len(ad), p=w / w.sum())
    for k, cand in enumerate(codes.dx_adult_conditions):
        who = ad[has & (ac == k)]
        cond[who, 0] = k
        cond_code[who, 0] = codes.pick(cand, rng, len(who))
    adult_bh = np.zeros(n, bool)
    adult_bh[ad] = rng.random(len(ad)) < 0.18
    names = [p.name for p in cl.BH_PROFILES]
    bh_group = np.full(n, -1, np.int16)
    bh_group[c] = tr.bh_profile
    bh_group[adult_bh] = np.where(rng.random(int(adult_bh.sum())) < 0.55, names.index("depression"), names.index("anxiety"))
    bh_code = np.full(n, -1, np.int32)
    for k, cand in enumerate(codes.dx_bh):
        who = np.flatnonzero(bh_group == k)
        bh_code[who] = codes.pick(cand, rng, len(who))
    engagement = rng.beta(4.0, 2.0, n)
    engagement[c] = tr.engagement
    adherence = rng.beta(3.0, 2.0, n)
    adherence[c] = tr.adherence
    foster = np.zeros(n, bool)
    foster[c] = tr.foster
    pcp_pool = prov.rendering["pcp"]
    ptr = enc.PersonTraits(is_child=pop.is_child, pmca=pmca, cond=cond, cond_code=cond_code, bh_code=bh_code,
                           bh_group=np.maximum(bh_group, 0), engagement=engagement, adherence=adherence, foster=foster,
                           pcp=pcp_pool[(pop.hh * 5) % len(pcp_pool)], adult_bh=adult_bh)
    # Drug classes each person would take (index into codes.drug_groups).
    g = {name: i for i, name in enumerate(codes.drug_groups)}
    drugs = {k: np.full(n, -1, np.int32) for k in ("chronic1", "chronic2", "bh", "reliever")}
    for slot, key in ((0, "chronic1"), (1, "chronic2")):
        for who_child, catalogue in ((pop.is_child, cl.CONDITIONS), (adult, cl.ADULT_CONDITIONS)):
            for k, condition in enumerate(catalogue):
                who = who_child & (cond[:, slot] == k)
                if condition.drug:
                    drugs[key][who] = g[condition.drug]
                if condition.flare_drug:
                    drugs["reliever"][who] = g[condition.flare_drug]
    medicated = rng.random(n) < 0.5
    second = rng.random(n) < 0.3
    for k, prof in enumerate(cl.BH_PROFILES):
        if not prof.drugs:
            continue
        who = (bh_group == k) & medicated & (pop.is_child | adult_bh)
        pick = np.where(second & (len(prof.drugs) > 1), g[prof.drugs[min(1, len(prof.drugs) - 1)]], g[prof.drugs[0]])
        drugs["bh"][who] = pick[who]
    return ptr, drugs


def generate_plan(workspace: Path, spec: PlanSpec, progress: Progress | None = None) -> PlanSummary:
    """Write ``spec.months`` monthly deliveries into ``workspace/landing`` and the truth into
    ``workspace/truth``. Refuses a workspace whose landing/ already holds deliveries."""
    t0 = time.perf_counter()
    if not isinstance(spec, PlanSpec):
        spec = PlanSpec.model_validate(spec)
    workspace = Path(workspace)
    landing = workspace / "landing"
    if landing.exists() and any(landing.iterdir()):
        raise PlanError(f"{landing} already holds deliveries; synth writes only into a fresh workspace")
    truth = workspace / "truth"
    report = progress or (lambda stage, done, total: None)
    seed = spec.seed
    S = spec.sim_months

    report("people and households", 0, 1)
    codes = Codes()
    pop = build_population(spec, _stream(seed, 1))
    tr = lt.assign_traits(pop, _stream(seed, 2))
    pmca_p = np.zeros(pop.n, np.int8)
    pmca_p[tr.person] = tr.pmca
    assign_aid(pop, pmca_p, _stream(seed, 3), int(pop.month_end[-1]))
    cp = lt.chain_params(pop, tr)
    report("people and households", 1, 1)
    report("exact risk (recursion)", 0, 1)
    V = lt.outcome_probability(tr, cp, lt.OUTCOMES.values())
    report("exact risk (recursion)", 1, 1)
    prov = build_providers(spec.members, _stream(seed, 4))
    ptr, drugs = _person_traits(pop, tr, codes, prov, _stream(seed, 5))
    state = lt.initial_state(pop, tr, cp, _stream(seed, 6))
    adult_prop = _stream(seed, 7).gamma(2.0, 0.5, pop.n)
    planted = {ref.PROGRAMS.index(name): share for name, share in spec.programme_effects.items()}
    cm = programs.CareManagement(pop.n, pop.month_start, planted)
    plan_defects = df.DefectPlan(spec, _stream(seed, 8))

    landing.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    pending: dict[str, dict[int, list[dict]]] = {t: defaultdict(list) for t in writer.INCREMENTAL}
    summary = PlanSummary(spec=spec, rows={t: 0 for t in writer.TABLES}, files={t: 0 for t in writer.TABLES})
    risk_parts, event_parts = [], []
    labels = spec.delivery_labels()
    next_claim, next_rx, next_visit = 1_000_000_001, 500_000_001, 10_000_001
    child_idx = np.arange(len(tr.person))

    def month_of(days: np.ndarray) -> np.ndarray:
        """Sim month of each day; S for days after the last month (never delivered)."""
        m = np.searchsorted(pop.month_start, days, side="right") - 1
        return np.where(days > pop.month_end[-1], S, m)

    templates: dict[str, dict] = {}

    def file_away(table: str, d: dict, deliver_days: np.ndarray) -> None:
        templates.setdefault(table, {k: v[:0] for k, v in d.items()})
        dm = month_of(deliver_days)
        for month in np.unique(dm):
            if LEAD_IN_MONTHS <= month < S:
                sel = dm == month
                pending[table][int(month)].append({k: v[sel] for k, v in d.items()})

    elig = writer.EligibilitySnapshots(pop)
    waiting = None
    with ThreadPoolExecutor(max_workers=2) as pool:
        for m in range(S):
            rng = _stream(seed, 100, m)
            start, end = int(pop.month_start[m]), int(pop.month_end[m])
            if m > 0:
                state = lt.step(state, tr, cp, rng)
            born = pop.birth_month[tr.person] == m
            state.bh[born] = 0
            state.flare[born] = 0
            alive_c = (pop.birth_month[tr.person] <= m) & (pop.death_month[tr.person] > m)
            lam = lt.event_rates(tr, state.bh, state.flare, state.social[tr.hh])
            if planted:
                lam = lam * cm.hazard_multiplier(tr.person, m)[:, None]
            counts = rng.poisson(lam) * alive_c[:, None]
            age_days = start - pop.birth
            age = age_days / 365.25
            enrolled_m = pop.enrolled[:, m]

            if m >= LEAD_IN_MONTHS:
                keep = alive_c & (age[tr.person] < 21)
                c = child_idx[keep]
                risk_parts.append(dict(child=c.astype(np.int32), month=np.full(len(c), m - LEAD_IN_MONTHS, np.int16),
                                       age=np.maximum(np.floor(age[tr.person[c]]), 0).astype(np.int8), enrolled=enrolled_m[tr.person[c]],
                                       p=V[c, state.bh[c], state.flare[c], state.social[tr.hh[c]]]))
            # acute events: children from the latent chain, adults from a simple static process
            ci, ki = np.nonzero(counts)
            reps = counts[ci, ki]
            ev_child = np.repeat(ci, reps)
            ev_kind = np.repeat(ki, reps).astype(np.int8)
            ev_person = tr.person[ev_child]
            ev_day = start + (rng.random(len(ev_person)) * (end - start + 1)).astype(np.int32)
            event_parts.append(dict(person=ev_person.astype(np.int32), day=ev_day, kind=ev_kind, enrolled=enrolled_m[ev_person]))
            adults = np.flatnonzero(~pop.is_child & (pop.birth_month <= m) & (pop.death_month > m))
            soc_mult = lt.SOCIAL_MULT_ED[state.social[pop.hh[adults]]]
            a_lam = np.stack([np.full(len(adults), 0.005), 0.001 * ptr.adult_bh[adults], 0.004 * ptr.adult_bh[adults],
                              0.05 * adult_prop[adults] * soc_mult], axis=1)
            a_counts = rng.poisson(a_lam)
            ai, ak = np.nonzero(a_counts)
            a_reps = a_counts[ai, ak]
            a_person = adults[np.repeat(ai, a_reps)]
            a_kind = np.repeat(ak, a_reps).astype(np.int8)
            a_day = start + (rng.random(len(a_person)) * (end - start + 1)).astype(np.int32)

            active = np.flatnonzero(enrolled_m & (pop.birth_month <= m) & (pop.death_month > m))
            bh_p = np.zeros(pop.n, np.int8)
            bh_p[tr.person] = state.bh
            fl_p = np.zeros(pop.n, np.int8)
            fl_p[tr.person] = state.flare
            mo = enc.Month(m=m, start=start, end=end, rng=rng, active=active, age=age, bh=bh_p, flare=fl_p,
                           social=state.social[pop.hh])
            cb = enc.ClaimBuilder(codes, prov, ptr)
            well = enc.outpatient(mo, ptr, codes, prov, cb)
            all_p = np.concatenate([ev_person, a_person])
            all_k = np.concatenate([ev_kind, a_kind])
            all_d = np.concatenate([ev_day, a_day])
            on = enrolled_m[all_p]
            adt = enc.acute(mo, all_p[on], all_k[on], all_d[on], ptr, codes, prov, cb)
            med, next_claim = cb.finish(rng, next_claim, pop.member_of_month, month_of)
            if med:
                file_away("medical_claim", med, med["paid_date"])
            rx, next_rx = fills(mo, ptr, drugs, codes, prov, pop, next_rx)
            if rx:
                file_away("pharmacy_claim", rx, rx["paid_date"])
            ed, next_visit = enc.adt_rows(mo, adt, pop.member_of_month, month_of, rng, next_visit)
            file_away("ed_visit", ed, ed["msg_day"])
            kinds_p = np.zeros((pop.n, 4), np.int32)
            np.add.at(kinds_p, (all_p, all_k), 1)
            cm.month(mo, ptr, pop, (kinds_p[:, lt.IP_PSY] + kinds_p[:, lt.ED_BH]) > 0, kinds_p[:, lt.IP_MED] > 0,
                     kinds_p[:, lt.ED_OTHER] > 0)
            if planted:
                cm.planted_referrals(mo, _stream(seed, 9, m), ptr, _crises(planted, kinds_p))
            scr = programs.screenings(mo, well, ptr, pop)
            file_away("sdoh_screening", scr, scr["deliver_day"])

            if m >= LEAD_IN_MONTHS:
                k = m - LEAD_IN_MONTHS
                if waiting is not None:
                    waiting()   # at most one month of files in flight: memory stays flat
                waiting = _deliver(landing, labels[k], k, m, pop, elig, codes, prov, cm, pending, templates,
                                   plan_defects, summary, pool,
                                   write_manifest=(k % 7) != 5)  # plans forget the manifest now and then
                for t in pending:
                    pending[t].pop(m, None)
            report("monthly deliveries", m + 1, S)
        if waiting is not None:
            waiting()

    report("truth", 0, 1)
    _write_truth(truth, pop, tr, risk_parts, event_parts, labels, plan_defects)
    if planted:
        _write_effects(truth, cm)
    report("truth", 1, 1)
    summary.persons = pop.n
    summary.households = pop.n_households
    summary.children = int(pop.is_child.sum())
    summary.births = int((pop.birth_month >= 0).sum())
    summary.defects = plan_defects.count
    summary.seconds = time.perf_counter() - t0
    return summary


# The crisis each planted programme is for: Stronger Together's behavioural-health crisis (a
# psychiatric stay or a behavioural-health ED visit), CARES's acute use (a medical stay or an ED
# visit), any acute event for the others.
PLANTED_CRISIS = {programs.STRONGER: (lt.IP_PSY, lt.ED_BH), programs.CARES: (lt.IP_MED, lt.ED_OTHER)}


def _crises(planted: dict[int, float], kinds: np.ndarray) -> dict[int, np.ndarray]:
    """Per planted programme and person: how many of the crises the programme is for happened this month."""
    return {program: kinds[:, list(PLANTED_CRISIS.get(program, range(len(lt.KINDS))))].sum(axis=1)
            for program in planted}


def _write_effects(truth: Path, cm: programs.CareManagement) -> None:
    """truth/programme_effects.json: what was planted, for an evaluation to be judged against."""
    effects = {
        ref.PROGRAMS[program]: {
            "reduction": share,
            "children_enrolled": int(cm.enrolled_in[:, program].sum()),
            "children_with_the_effect": int((cm.effect_program == program).sum()),
        }
        for program, share in sorted(cm.planted.items())
    }
    doc = {
        "programmes": effects,
        "hazards": list(lt.KINDS),
        "from": "the month after a child's first enrolment in the programme",
        "lasts": "to the end of the plan, discharge included",
        "note": "truth/risk.parquet is each child's risk without any programme",
    }
    (truth / "programme_effects.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _sorted(d: dict, keys: tuple[str, ...]) -> dict:
    order = np.lexsort(tuple(d[k] for k in reversed(keys)))
    return {k: v[order] for k, v in d.items()}


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def _deliver(landing, label, k, m, pop, elig, codes, prov, cm, pending, templates, plan_defects, summary, pool,
             write_manifest: bool) -> Callable[[], None]:
    """Build and hand off month m's files; returns the call that waits for them and writes the manifest."""
    folder = landing / label
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    jobs = {}
    for table in writer.TABLES:
        fmt, delim = writer.file_format(table, k)
        name = f"{table}.{fmt}"
        if table == "eligibility":
            tbl = elig.snapshot(m, name)
        elif table == "care_management":
            tbl = writer.care_management(cm.snapshot(int(pop.month_end[m])), pop)
        else:
            d = _concat(pending[table].get(m, [])) or templates.get(table)
            if not d:
                raise PlanError(f"nothing generated for {table}; the plan is too small")
            if table == "medical_claim":
                tbl = writer.medical_claims(_sorted(d, ("paid_date", "claim_num", "seq", "line")), pop, codes, prov)
            elif table == "pharmacy_claim":
                tbl = writer.pharmacy_claims(_sorted(d, ("paid_date", "claim_num", "seq")), pop, codes, prov)
            elif table == "ed_visit":
                tbl = writer.ed_visits(_sorted(d, ("message", "visit")), pop, codes, prov)
            else:
                tbl = writer.sdoh_screenings(_sorted(d, ("day", "person", "domain")), pop)
        tbl = plan_defects.apply(table, label, k, name, fmt, tbl)
        # Serialising and compressing release the GIL: files of this month are written on the
        # pool while the next month is simulated.
        jobs[table] = pool.submit(_write_one, folder, name, tbl, fmt, delim)
        manifest[table] = {"rows": tbl.num_rows, "sha256": None}
        summary.rows[table] += tbl.num_rows
        summary.files[table] += 1

    def finish() -> None:
        for table, job in jobs.items():
            manifest[table]["sha256"] = job.result()
        if write_manifest:
            (folder / "_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    return finish


def _write_one(folder: Path, name: str, tbl: pa.Table, fmt: str, delim: str | None) -> str:
    return writer.write_file(folder, name, writer.serialize(writer.for_format(tbl, fmt), fmt, delim))


def _write_truth(truth: Path, pop, tr, risk_parts, event_parts, labels, plan_defects) -> None:
    r = _concat(risk_parts)
    persons = tr.person[r["child"]] if r else np.zeros(0, np.int64)
    month_labels = pa.DictionaryArray.from_arrays(pa.array(r["month"].astype(np.int32)), pa.array(labels)).cast(pa.string())
    pq.write_table(pa.table({
        "person_id": writer.person_ids(pop, persons),
        "month": month_labels,
        "age": pa.array(r["age"].astype(np.int16)),
        "enrolled": pa.array(r["enrolled"]),
        **{f"p_{name}": pa.array(r["p"][:, i].astype(np.float64)) for i, name in enumerate(lt.OUTCOMES)},
    }), truth / "risk.parquet")
    e = _concat(event_parts)
    pq.write_table(pa.table({
        "person_id": writer.person_ids(pop, e["person"]),
        "date": writer._date(e["day"]),
        "kind": writer._enum(lt.KINDS, e["kind"]),
        "enrolled": pa.array(e["enrolled"]),
    }), truth / "events.parquet")
    p = tr.person
    cond_names = [c.name for c in cl.CONDITIONS]
    c1 = writer._enum(cond_names, tr.cond[:, 0])
    c2 = writer._enum(cond_names, tr.cond[:, 1])
    pq.write_table(pa.table({
        "person_id": writer.person_ids(pop, p),
        "birth_date": writer._date(pop.birth[p]),
        "gender": writer._enum(("female", "male", "unknown"), pop.sex[p]),
        "age_at_start": pa.array(np.round(tr.age0, 2)),
        "household_adversity": pa.array(np.round(pop.hh_adversity[tr.hh], 4)),
        "foster_care": pa.array(tr.foster),
        "pmca_class": writer._enum(("none", "non_complex_chronic", "complex_chronic"), tr.pmca),
        "condition_1": c1,
        "condition_2": c2,
        "bh_profile": writer._enum([b.name for b in cl.BH_PROFILES], tr.bh_profile),
        "bh_liability": pa.array(np.round(tr.bh_liability, 4)),
        "care_engagement": pa.array(np.round(tr.engagement, 4)),
        "ed_propensity": pa.array(np.round(tr.ed_propensity, 4)),
        "adherence": pa.array(np.round(tr.adherence, 4)),
        "death_date": writer._date(np.where(pop.death_month[p] < pop.enrolled.shape[1], pop.death_day[p], writer.NO_DATE)),
    }), truth / "persons.parquet")
    pq.write_table(plan_defects.table(), truth / "defects.parquet")
