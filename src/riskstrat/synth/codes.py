"""Every code the generator emits, drawn from :mod:`riskstrat.features.codesets` and held as integer
indices into vocabularies, so claims are built as numpy arrays and turned into strings once,
at write time, through Arrow dictionary arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from riskstrat.features import codesets
from riskstrat.synth import clinical as cl


class Vocab:
    """Strings by integer index; index -1 stands for null."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, codes) -> np.ndarray:
        out = []
        for c in codes:
            if c not in self._index:
                self._index[c] = len(self.values)
                self.values.append(c)
            out.append(self._index[c])
        return np.asarray(out, dtype=np.int32)

    def one(self, code: str) -> int:
        return int(self.add([code])[0])

    def arrow(self, idx: np.ndarray, values: list[str] | None = None) -> pa.Array:
        """A string array for the indices (-1 gives null)."""
        values = self.values if values is None else values
        cached = getattr(self, "_arrow", None)
        if cached is None or cached[0] is not values or cached[1] != len(values):
            self._arrow = cached = (values, len(values), pa.array(values, pa.string()))
        vals = cached[2]
        idx = np.asarray(idx, dtype=np.int32)
        mask = idx < 0
        ind = pa.array(np.where(mask, 0, idx), pa.int32(), mask=mask if mask.any() else None)
        return pa.DictionaryArray.from_arrays(ind, vals).cast(pa.string())


def _dotted(code: str) -> str:
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


@dataclass
class CodeBook:
    """Vocabularies of every code system the claims use, and the ICD groups drawn from code sets."""
    icd: Vocab = field(default_factory=Vocab)
    hcpcs: Vocab = field(default_factory=Vocab)
    rev: Vocab = field(default_factory=Vocab)
    pos: Vocab = field(default_factory=Vocab)
    bill: Vocab = field(default_factory=Vocab)
    small: Vocab = field(default_factory=Vocab)   # admit type/source, discharge disposition
    groups: dict = field(default_factory=dict)

    def icd_group(self, codeset: str, group: str) -> np.ndarray:
        """Vocabulary indices of the billable codes of one code-set group."""
        key = ("icd", codeset, group)
        if key not in self.groups:
            codes = codesets.billable_icd_codes(codeset, group)
            if not codes:
                raise ValueError(f"code set {codeset!r} group {group!r} has no billable ICD-10-CM code")
            self.groups[key] = self.icd.add(codes)
        return self.groups[key]

    def icd_arrow(self, idx: np.ndarray, dotted: np.ndarray) -> pa.Array:
        """ICD strings, written with the dot where ``dotted`` is true (plans do both)."""
        V = len(self.icd.values)
        if self.groups.get("_both_size") != V:
            self.groups["_both"] = self.icd.values + [_dotted(c) for c in self.icd.values]
            self.groups["_both_size"] = V
        return self.icd.arrow(np.where(idx < 0, -1, idx + V * dotted.astype(np.int32)), self.groups["_both"])


def _util(df, group: str, system: str):
    return df[(df["group"] == group) & (df["code_system"] == system)].sort_values("code")


class Codes:
    """The generator's picks from the code sets, by purpose."""

    def __init__(self) -> None:
        b = self.book = CodeBook()
        u = codesets.load("utilization_codes")
        wc = _util(u, "well_child", "cpt_hcpcs")
        est = wc[wc["description"].str.contains("established")]
        new = wc[wc["description"].str.contains("new patient")]
        # Preventive-visit codes come in five age bands (<1, 1-4, 5-11, 12-17, 18+), in code order.
        self.well_est = b.hcpcs.add(est["code"])
        self.well_new = b.hcpcs.add(new["code"])
        if len(self.well_est) != 5 or len(self.well_new) != 5:
            raise ValueError("utilization_codes well_child: expected five age bands of new and established codes")
        ov = _util(u, "office_visit", "cpt_hcpcs")
        self.office_est = b.hcpcs.add(ov[ov["description"].str.contains("established") & ~ov["description"].str.contains("level 1")]["code"])
        self.office_new = b.hcpcs.add(ov[ov["description"].str.contains("new")]["code"])
        self.ed_cpt = b.hcpcs.add(_util(u, "ed_visit", "cpt_hcpcs")["code"])
        ed_rev = _util(u, "ed_visit", "revenue")["code"].tolist()
        self.ed_rev_main = b.rev.add(ed_rev[:1])[0]
        self.ed_rev_other = b.rev.add(ed_rev[1:])
        self.pos_ed = b.pos.add(_util(u, "ed_visit", "pos")["code"])[0]
        ipp = _util(u, "inpatient_professional", "cpt_hcpcs")
        self.ip_initial = b.hcpcs.add(ipp[ipp["description"].str.contains("Initial")]["code"])
        self.ip_subsequent = b.hcpcs.add(ipp[ipp["description"].str.contains("Subsequent")]["code"])
        self.ip_discharge = b.hcpcs.add(ipp[ipp["description"].str.contains("discharge")]["code"])
        rb = _util(u, "inpatient_room_board", "revenue")
        psych = set(_util(u, "psych_room_board", "revenue")["code"])
        # Medical room and board: the general (xx0) code of each accommodation prefix that is not
        # psychiatric; nursery (017) only for infants is ignored for simplicity.
        general = [c + "0" for c, m in zip(rb["code"], rb["match"]) if m == "prefix" and len(c) == 3]
        self.rb_medical = b.rev.add([c for c in general if c not in psych and c[:3] in ("011", "012", "013", "015", "020")])
        self.rb_psych = b.rev.add(sorted(psych))
        self.bill_ip = b.bill.one(_util(u, "inpatient_bill_type", "bill_type")["code"].iloc[0] + cl.BILL_FREQUENCY_ADMIT_THROUGH_DISCHARGE)
        self.bill_op = b.bill.one(_util(u, "outpatient_bill_type", "bill_type")["code"].iloc[0] + cl.BILL_FREQUENCY_ADMIT_THROUGH_DISCHARGE)
        bh = _util(u, "bh_outpatient", "cpt_hcpcs")
        bh = bh[~bh["description"].str.contains("add-on")]
        self.bh_cpt = b.hcpcs.add(bh["code"])
        self.bh_eval = b.hcpcs.add(bh[bh["description"].str.contains("evaluation|assessment")]["code"])
        self.bh_crisis = b.hcpcs.add(bh[bh["description"].str.contains("Crisis")]["code"])
        dv = _util(u, "dental_visit", "cpt_hcpcs")
        self.dental_exam = b.hcpcs.add(dv[dv["description"].str.contains("evaluation")]["code"])
        self.dental_prophy_child = b.hcpcs.add(dv[dv["description"].str.contains("Prophylaxis, child")]["code"])
        self.dental_prophy_adult = b.hcpcs.add(dv[dv["description"].str.contains("Prophylaxis, adult")]["code"])
        self.dental_fluoride = b.hcpcs.add(dv[dv["description"].str.contains("fluoride")]["code"])
        self.pos_office = b.pos.one(cl.POS_OFFICE)
        self.pos_inpatient = b.pos.one(cl.POS_INPATIENT)
        self.pos_cmhc = b.pos.one(cl.POS_CMHC)
        self.pos_telehealth = b.pos.add(_util(u, "telehealth_pos", "pos")["code"])
        self.rev_ancillary = b.rev.add([cl.REV_PHARMACY, cl.REV_LAB, cl.REV_RADIOLOGY])
        self.admit_emergency = b.small.one(cl.ADMIT_TYPE_EMERGENCY)
        self.admit_urgent = b.small.one(cl.ADMIT_TYPE_URGENT)
        self.admit_elective = b.small.one(cl.ADMIT_TYPE_ELECTIVE)
        self.source_referral = b.small.one(cl.ADMIT_SOURCE_REFERRAL)
        self.source_er = b.small.one(cl.ADMIT_SOURCE_ER)
        self.disch_home = b.small.one(cl.DISCHARGE_HOME)
        self.disch_home_health = b.small.one(cl.DISCHARGE_HOME_HEALTH)

        routine = codesets.load("icd10cm_routine")
        wcd = routine[routine["group"] == "well_child"]
        self.dx_well_newborn = b.icd.add(wcd[wcd["description"].str.contains("newborn")]["code"])
        self.dx_well_child = b.icd.add(wcd[wcd["description"].str.contains("child health")]["code"])
        self.dx_well_adult = b.icd.add(wcd[wcd["description"].str.contains("adult")]["code"])
        self.dx_acute = b.icd_group("icd10cm_routine", "acute_minor")
        self.dx_injury = b.icd_group("icd10cm_routine", "injury")
        self.dx_dental = b.icd_group("icd10cm_routine", "dental")
        self.dx_conditions = [b.icd_group(c.codeset, c.group) for c in cl.CONDITIONS]
        self.dx_adult_conditions = [b.icd_group(c.codeset, c.group) for c in cl.ADULT_CONDITIONS]
        self.dx_bh = [b.icd_group(cl.BH, p.group) for p in cl.BH_PROFILES]
        self.dx_bh_other = b.icd_group(cl.BH, "other_behavioral")
        # Initial-encounter codes only: a 7th character D or S is a later encounter or sequela.
        si = b.icd_group(*cl.SUICIDAL_IDEATION)
        self.dx_suicidal = si[[not (len(b.icd.values[i]) == 7 and b.icd.values[i][-1] in "DS") for i in si]]
        self.dx_self_harm = b.icd_group(*cl.SELF_HARM)
        # Initial encounters only: ED and inpatient claims code the acute (A) episode.
        sh = np.array(b.icd.values, dtype=object)[self.dx_self_harm]
        self.dx_self_harm = self.dx_self_harm[np.char.endswith(sh.astype(str), "A")]
        # Outpatient visits record thoughts, not acts: the ideation codes without the suicide
        # attempt (T14.91), which only the ED visit or stay that treats an attempt codes.
        self.dx_ideation = self.dx_suicidal[~np.isin(self.dx_suicidal, b.icd_group(*cl.SELF_HARM))]
        self.dx_maltreatment = np.concatenate([b.icd_group("icd10cm_maltreatment", g)
                                               for g in ("maltreatment_confirmed", "maltreatment_suspected")])
        mal = np.array(b.icd.values, dtype=object)[self.dx_maltreatment].astype(str)
        # Injury-type maltreatment codes of the initial encounter (perpetrator Y07 codes are
        # external-cause codes that a plan rarely receives on a child's claim).
        self.dx_maltreatment = self.dx_maltreatment[(np.char.str_len(mal) == 7) & np.char.endswith(mal, "A")]
        self.dx_sdoh = {g: b.icd_group("icd10cm_sdoh", g) for g in
                        ("housing_instability", "food_insecurity", "transportation", "utilities",
                         "interpersonal_safety", "caregiver_stress", "family_disruption")}
        self.dx_sdoh_all = np.concatenate(list(self.dx_sdoh.values()))

        ndc = codesets.load("ndc_products").sort_values("code").reset_index(drop=True)
        self.ndc_codes = ndc["code"].tolist()
        self.ndc_atc = ndc["atc_code"].tolist()
        self.ndc_days = ndc["days_supply_typical"].astype(int).to_numpy()
        self.ndc_group = {g: np.flatnonzero(ndc["group"].to_numpy() == g) for g in ndc["group"].unique()}
        # One price per product, fixed by the product's position: generics cheap, insulin dear.
        rng = np.random.default_rng(20261123)
        self.ndc_unit_price = np.round(rng.lognormal(0.0, 1.0, len(ndc)), 2) + 0.05
        self.drug_groups = sorted(self.ndc_group)

    def pick(self, group_idx: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
        """n codes drawn uniformly from a group (vocabulary indices)."""
        return group_idx[rng.integers(0, len(group_idx), n)] if n else np.zeros(0, np.int32)
