"""A hand-built plan shared by the feature and label tests: each child has a story and known answers.

The as-of month of the feature tests is 2025-06 (windows: last 12 months = 2024-07 … 2025-06,
last 6 = 2025-01 … 2025-06, last 3 = 2025-04 … 2025-06). Deliveries run to 2025-12 so that the
leakage test can add every later delivery and the labels have run-out.
"""

from __future__ import annotations

from handbuilt import Lake

from riskstrat.core.months import months_between as months

ALL = months("2024-01", "2025-12")
AS_OF = "2025-06"


def _ed_claim(lake, month, claim_id, person, day, facility, *, institutional=True, **kw):
    if institutional:
        lake.claim(month, claim_id, person, day, claim_type="institutional", bill_type_code="131",
                   revenue_center_code="0450", facility_npi=facility, **kw)
    else:
        lake.claim(month, claim_id, person, day, place_of_service_code="23", hcpcs_code="99283",
                   billing_npi=facility, **kw)


def build_plan() -> Lake:
    lake = Lake()
    everyone = ["P_ED", "P_REV", "P_IP", "P_PMCA_COMPLEX", "P_PMCA_ONE", "P_PMCA_PROG", "P_PMCA_MALIG",
                "P_RX", "P_SDOH", "P_BH", "P_COST", "P_20", "P_ADULT", "P_LABEL_IP", "P_QUIET", "P_LABEL_SH"]
    for p in everyone:
        birth = {"P_20": "2004-07-15", "P_ADULT": "2004-06-15"}.get(p, "2012-03-01")
        lake.enrol(p, ALL, start="2023-01-01", birth_date=birth, gender="male" if p == "P_ED" else "female")
    lake.enrol("P_CARE", ALL, start="2023-01-01", aid_category="foster_care")
    # P_ENROL: covered Jul-Sep 2024, out Oct-Dec, back from Jan 2025; each snapshot lists the spans known then.
    lake.enrol("P_ENROL", months("2024-07", "2025-12"), start="2024-07-01", end="2024-09-30")
    lake.enrol("P_ENROL", months("2025-01", "2025-12"), start="2025-01-01")
    # P_LEFT: leaves the plan mid-June 2025 (the snapshots after June know the end date).
    lake.enrol("P_LEFT", months("2024-01", "2025-05"), start="2023-01-01")
    lake.enrol("P_LEFT", months("2025-06", "2025-12"), start="2023-01-01", end="2025-06-15")
    # P_LEFT_BH: leaves the same way, after a behavioural-health ED visit in May 2025.
    lake.enrol("P_LEFT_BH", months("2024-01", "2025-05"), start="2023-01-01")
    lake.enrol("P_LEFT_BH", months("2025-06", "2025-12"), start="2023-01-01", end="2025-06-15")
    lake.add("ed_visit", "2025-05", visit_id="V-LB", person_id="P_LEFT_BH", facility_npi="F1",
             arrival_datetime="2025-05-05T10:00:00", diagnosis_code_1="R45851")

    # ---- P_ED: emergency visits reported by claims, ADT or both --------------------------------------
    # A: facility claim + professional claim + ADT, same day -> one visit.
    _ed_claim(lake, "2025-04", "ED-A1", "P_ED", "2025-03-10", "F1", diagnosis_code_1="J45909")
    _ed_claim(lake, "2025-04", "ED-A2", "P_ED", "2025-03-10", "F1", institutional=False, diagnosis_code_1="J45909")
    lake.add("ed_visit", "2025-03", visit_id="V-A", person_id="P_ED", facility_npi="F1",
             arrival_datetime="2025-03-10T14:00:00", message_datetime="2025-03-11T09:00:00")
    # B: ADT arrives 23:30, the facility claim is dated the next day at the same facility -> one visit.
    lake.add("ed_visit", "2025-04", visit_id="V-B", person_id="P_ED", facility_npi="F2",
             arrival_datetime="2025-04-01T23:30:00", message_datetime="2025-04-02T01:00:00")
    _ed_claim(lake, "2025-05", "ED-B", "P_ED", "2025-04-02", "F2")
    # C: ADT only (claim not yet in), depression principal diagnosis -> a BH ED visit.
    lake.add("ed_visit", "2025-05", visit_id="V-C", person_id="P_ED", facility_npi="F1",
             arrival_datetime="2025-05-20T10:00:00", diagnosis_code_1="F329")
    # ... followed by outpatient psychotherapy 21 days later: within 30 days, not within 7.
    lake.claim("2025-06", "BH-OP1", "P_ED", "2025-06-10", hcpcs_code="90837", diagnosis_code_1="F329")
    # D: claim only, October 2024: in the 12-month window, not the 6-month one.
    _ed_claim(lake, "2024-11", "ED-D", "P_ED", "2024-10-05", "F1", institutional=False)
    # E: service in June but paid in July: unknown at the end of June.
    _ed_claim(lake, "2025-07", "ED-E", "P_ED", "2025-06-20", "F1", paid_date="2025-07-15")
    # F: ADT arrival 28 June, message sent 2 July: unknown at the end of June.
    lake.add("ed_visit", "2025-07", visit_id="V-F", person_id="P_ED", facility_npi="F1",
             arrival_datetime="2025-06-28T10:00:00", message_datetime="2025-07-02T08:00:00")
    # G: ADT at F3 on 1 Feb and a claim at F4 on 2 Feb: different facility and day -> two visits.
    lake.add("ed_visit", "2025-02", visit_id="V-G", person_id="P_ED", facility_npi="F3",
             arrival_datetime="2025-02-01T12:00:00")
    _ed_claim(lake, "2025-03", "ED-G", "P_ED", "2025-02-02", "F4")

    # ---- P_20 (otherwise only an age): an ED visit that began on the last evening of March 2025 (ADT) and whose claim is
    # dated 1 April at the same facility: one visit, of 31 March, so no outcome in a window opening 1 April.
    lake.add("ed_visit", "2025-03", visit_id="V-M", person_id="P_20", facility_npi="F5",
             arrival_datetime="2025-03-31T23:40:00")
    _ed_claim(lake, "2025-04", "ED-M", "P_20", "2025-04-01", "F5")

    # ---- P_REV: adjustments, reversals, denials --------------------------------------------------------
    _ed_claim(lake, "2025-02", "REV-1", "P_REV", "2025-01-15", "F1")
    _ed_claim(lake, "2025-03", "REV-1", "P_REV", "2025-01-15", "F1", adjustment_sequence=1,
              claim_status="reversed", paid_date="2025-03-02", paid_amount=-100.0)
    _ed_claim(lake, "2025-03", "REV-2", "P_REV", "2025-02-10", "F1")
    _ed_claim(lake, "2025-08", "REV-2", "P_REV", "2025-02-10", "F1", adjustment_sequence=1,
              claim_status="reversed", paid_date="2025-08-02", paid_amount=-100.0)  # after T: still counted at T
    _ed_claim(lake, "2025-03", "REV-3", "P_REV", "2025-03-01", "F1", claim_status="denied", paid_amount=0.0,
              diagnosis_code_1="F902")  # denied: no visit, still an ADHD diagnosis

    # ---- P_IP: two stays, the second a psychiatric readmission ----------------------------------------------
    for claim_id, bill in (("IP-1a", "112"), ("IP-1b", "114")):  # interim bills of one stay
        lake.claim("2025-02", claim_id, "P_IP", "2025-01-05", claim_type="institutional", bill_type_code=bill,
                   revenue_center_code="0120", admission_date="2025-01-05", discharge_date="2025-01-10",
                   claim_end_date="2025-01-10", diagnosis_code_1="J189")
    lake.claim("2025-03", "IP-2", "P_IP", "2025-02-01", claim_type="institutional", bill_type_code="111",
               revenue_center_code="0114", admission_date="2025-02-01", discharge_date="2025-02-05",
               claim_end_date="2025-02-05", diagnosis_code_1="F329")

    # ---- PMCA ------------------------------------------------------------------------------------------------
    lake.claim("2025-02", "PM-1", "P_PMCA_COMPLEX", "2025-01-20", diagnosis_code_1="G40909",
               diagnosis_code_2="Q210")
    lake.claim("2025-02", "PM-2", "P_PMCA_ONE", "2025-01-20", diagnosis_code_1="J45909")
    lake.claim("2024-05", "PM-2old", "P_PMCA_ONE", "2024-05-02", diagnosis_code_1="G809")  # before the window
    lake.claim("2025-02", "PM-3", "P_PMCA_PROG", "2025-01-20", diagnosis_code_1="E840")
    lake.claim("2025-02", "PM-4", "P_PMCA_MALIG", "2025-01-20", diagnosis_code_1="C9100")

    # ---- P_RX: antipsychotic polypharmacy, ADHD medicines -----------------------------------------------------
    for i, day in enumerate(["2025-01-01", "2025-01-31", "2025-03-02", "2025-04-01", "2025-05-01"]):
        lake.add("pharmacy_claim", day[:7], claim_id=f"RX-R{i}", person_id="P_RX", dispensing_date=day,
                 atc_code="N05AX08", days_supply=30)
    for i, day in enumerate(["2025-02-01", "2025-03-03", "2025-04-02"]):  # ATC from the NDC only
        lake.add("pharmacy_claim", day[:7], claim_id=f"RX-A{i}", person_id="P_RX", dispensing_date=day,
                 ndc_code="00615825939", days_supply=30)
    lake.add("pharmacy_claim", "2025-03", claim_id="RX-S", person_id="P_RX", dispensing_date="2025-03-05",
             atc_code="N06BA04")
    lake.add("pharmacy_claim", "2025-03", claim_id="RX-N", person_id="P_RX", dispensing_date="2025-03-06",
             atc_code="N06BA09")
    lake.add("pharmacy_claim", "2025-03", claim_id="RX-D", person_id="P_RX", dispensing_date="2025-03-07",
             atc_code="N06AB03", claim_status="denied")

    # ---- P_SDOH ---------------------------------------------------------------------------------------------------
    lake.claim("2025-03", "SD-1", "P_SDOH", "2025-02-10", diagnosis_code_1="Z5941",
               diagnosis_code_2="Z6221")
    lake.add("sdoh_screening", "2025-03", person_id="P_SDOH", screening_date="2025-03-01", instrument="ahc_hrsn",
             domain="housing_instability", result="positive")
    lake.add("sdoh_screening", "2025-03", person_id="P_SDOH", screening_date="2025-03-01", instrument="ahc_hrsn",
             domain="utilities", result="negative")
    lake.add("sdoh_screening", "2025-07", person_id="P_SDOH", screening_date="2025-06-25", instrument="ahc_hrsn",
             domain="transportation", result="positive")  # delivered after T

    # ---- P_CARE: foster care, a well-child visit, no dental visit ------------------------------------------------
    lake.claim("2025-02", "WC-1", "P_CARE", "2025-02-01", hcpcs_code="99392", diagnosis_code_1="Z00129")

    # ---- P_BH: condition groups, suicidality, maltreatment ----------------------------------------------------------
    lake.claim("2025-04", "BH-1", "P_BH", "2025-03-15", hcpcs_code="99214", diagnosis_code_1="F4310",
               diagnosis_code_2="F329", diagnosis_code_3="R45851", diagnosis_code_4="T1491XA",
               diagnosis_code_5="T7402XA")

    # ---- P_COST ------------------------------------------------------------------------------------------------------
    lake.claim("2024-08", "C-1", "P_COST", "2024-08-01", hcpcs_code="99213", paid_amount=900.0)
    lake.claim("2025-05", "C-2", "P_COST", "2025-05-01", hcpcs_code="99213", paid_amount=300.0)
    lake.add("pharmacy_claim", "2025-06", claim_id="C-RX", person_id="P_COST", dispensing_date="2025-06-01",
             atc_code="R03BA02", paid_amount=60.0)

    # ---- outcomes after the as-of month 2025-03 (labels) ----------------------------------------------------------
    lake.claim("2025-06", "IP-L", "P_LABEL_IP", "2025-05-10", claim_type="institutional", bill_type_code="111",
               revenue_center_code="0120", admission_date="2025-05-10", discharge_date="2025-05-12",
               claim_end_date="2025-05-12", paid_amount=20000.0)
    # P_LABEL_SH: an office visit for an intentional overdose (initial encounter) is a self-harm event;
    # a later follow-up of the same injury (D) and a history code (Z91.51) are not new events.
    lake.claim("2025-05", "SH-1", "P_LABEL_SH", "2025-04-22", diagnosis_code_1="T391X2A")
    lake.claim("2025-07", "SH-2", "P_LABEL_SH", "2025-06-02", diagnosis_code_1="T391X2D", diagnosis_code_2="Z9151")
    lake.claim("2025-07", "SH-3", "P_QUIET", "2025-06-03", diagnosis_code_1="Z9151")
    return lake
