"""Benchmark: the feature table for 500k children over 36 months of lake (target: 60 s, 4 GB).

The target is measured on a lake of 500k children that this script writes itself, straight in the
docs/lake.md layout with DuckDB (about 20M claim lines, 36 monthly eligibility snapshots, pharmacy
fills, ADT messages, adjustments and reversals, diagnoses drawn from the code sets), and keeps
in ``bench/work/features_lake`` for the next run: the synthetic 500k-member plan has fewer than
half that many children. When the ingest benchmark has left its lake in
``bench/work/ingest500k``, the feature build on it is timed as well and reported in the note. Generation
runs in a child process, so neither its time nor its memory is counted. The JSON also carries
the process's CPU seconds and the machine's load average, because wall time on a shared machine
says little on its own. The last stdout line is the JSON result bench/run.py reads.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from riskstrat.core.months import add_months
from riskstrat.features import build_features, codesets, feature_names

ROOT = Path(__file__).resolve().parents[1]

CHILDREN = 500_000
MONTHS = 36
END = "2025-11"
TARGET_SECONDS = 60
WORK = ROOT / "bench" / "work"
GENERATED = WORK / "features_lake"
GENERATOR_VERSION = "4"


def generated_lake() -> Path:
    marker = GENERATED / "lake" / "_generated.json"
    if not marker.exists() or json.loads(marker.read_text()).get("version") != GENERATOR_VERSION:
        subprocess.run([sys.executable, __file__, "--generate"], check=True, stdout=sys.stderr)
    return GENERATED


def ingested_lake() -> Path | None:
    ws = WORK / "ingest500k"
    return ws if (ws / "lake" / "medical_claim").exists() and (ws / "lake" / "eligibility").exists() else None


def timed_build(workspace: Path) -> dict:
    t, cpu = time.perf_counter(), time.process_time()
    frame = build_features(workspace, END)
    seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
    con = duckdb.connect()
    lines = con.execute(
        f"SELECT COUNT(*) FROM read_parquet('{workspace}/lake/medical_claim/*/*.parquet')").fetchall()[0][0]
    con.close()
    return {"seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1), "children": len(frame), "lines": int(lines)}


def _copy(con: duckdb.DuckDBPyConnection, select: str, root: Path, table: str) -> None:
    target = root / "lake" / table
    target.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY ({select}) TO '{target}' (FORMAT parquet, PARTITION_BY (delivery_month), "
        "FILENAME_PATTERN 'part-{i}', OVERWRITE_OR_IGNORE true)"
    )


def generate_lake(root: Path) -> None:
    """A plan of CHILDREN children (and some young adults) over MONTHS deliveries ending END."""
    first = add_months(END, -(MONTHS - 1))
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    # Diagnosis pool: real codes from the code sets, so the features find what they look for.
    pools = []
    for name, weight in (("pmca_icd10", 1), ("icd10cm_routine", 4), ("icd10cm_behavioral_health", 2),
                         ("icd10cm_sdoh", 1), ("icd10cm_suicide_self_harm", 1), ("icd10cm_chronic_conditions", 1)):
        frame = codesets.load(name)
        codes = [c + ("9" if m == "prefix" and len(c) == 3 else "") for c, m in zip(frame["code"], frame["match"])]
        pools += [(c, weight) for c in codes[:400]]
    con.execute("CREATE TABLE dx_pool AS SELECT * FROM (VALUES " +
                ",".join(f"('{c}', {w})" for c, w in pools) + ") AS t(code, weight)")
    con.execute("CREATE TABLE dx_ranked AS SELECT code, ROW_NUMBER() OVER (ORDER BY code) - 1 AS i FROM dx_pool, "
                "range(weight)")
    n_dx = con.execute("SELECT COUNT(*) FROM dx_ranked").fetchall()[0][0]
    ndc = codesets.load("ndc_products")
    con.execute("CREATE TABLE ndc_pool AS SELECT * FROM (VALUES " +
                ",".join(f"('{c}', '{a}', {i})" for i, (c, a) in enumerate(zip(ndc["code"], ndc["atc_code"]))) +
                ") AS t(ndc_code, atc_code, i)")
    n_ndc = len(ndc)
    con.execute(f"""
        CREATE TABLE months AS
        SELECT strftime(d, '%Y-%m') AS month, CAST(d AS DATE) AS month_start, CAST(last_day(d) AS DATE) AS month_end, i AS month_index
        FROM (SELECT DATE '{first}-01' + to_months(i) AS d, i FROM range({MONTHS}) AS r(i))
    """)
    # People: 5% young adults (outside the population), ages spread 0-22; staggered enrolment.
    con.execute(f"""
        CREATE TABLE people AS
        SELECT
            printf('P%08d', i) AS person_id,
            printf('H%07d', i // 2) AS subscriber_id,
            DATE '{END}-28' - (CAST(hash(i, 1) % (22 * 365) AS INTEGER)) AS birth_date,
            CASE WHEN hash(i, 2) % 2 = 0 THEN 'female' ELSE 'male' END AS gender,
            CASE hash(i, 3) % 20 WHEN 0 THEN 'foster_care' WHEN 1 THEN 'ssi_disabled' WHEN 2 THEN 'chip'
                 WHEN 3 THEN 'adoption_assistance' ELSE 'tanf' END AS aid_category,
            DATE '2021-01-01' + (CAST(hash(i, 4) % 1750 AS INTEGER)) AS enrollment_start_date,
            CASE WHEN hash(i, 5) % 10 = 0
                 THEN DATE '2023-01-01' + (CAST(hash(i, 6) % 1060 AS INTEGER)) END AS end_date
        FROM range({int(CHILDREN * 1.13)}) AS r(i)
    """)
    _copy(con, """
        SELECT p.person_id, p.person_id AS member_id, p.subscriber_id, 'child' AS subscriber_relation, p.gender,
               'unknown' AS race, 'unknown' AS ethnicity, p.birth_date, CAST(NULL AS DATE) AS death_date,
               p.enrollment_start_date,
               CASE WHEN p.end_date <= m.month_end AND p.end_date >= p.enrollment_start_date THEN p.end_date END
                   AS enrollment_end_date,
               'bench' AS payer, 'medicaid' AS payer_type, 'bench' AS plan, p.aid_category,
               'eligibility.csv' AS source_file, CAST(0 AS BIGINT) AS source_row, m.month AS delivery_month
        FROM people p JOIN months m ON p.enrollment_start_date <= m.month_end
    """, root, "eligibility")
    # Claims: about 0.55 a child-month, 1-2 lines each; paid 10-80 days after service.
    con.execute("""
        CREATE TABLE claims AS
        SELECT
            printf('C%s-%d-%d', p.person_id, m.month_index, k) AS claim_id,
            p.person_id,
            m.month_start + (CAST(hash(p.person_id, m.month_index, k, 7) % 28 AS INTEGER)) AS service_date,
            hash(p.person_id, m.month_index, k, 8) % 1000 AS kind,
            hash(p.person_id, m.month_index, k, 9) AS h
        FROM people p
        JOIN months m ON p.enrollment_start_date <= m.month_end
        CROSS JOIN range(2) AS r(k)
        WHERE hash(p.person_id, m.month_index, k) % 100 < CASE WHEN k = 0 THEN 40 ELSE 15 END
    """)
    lines = f"""
        SELECT
            c.claim_id, CAST(l AS BIGINT) AS claim_line_number,
            CASE WHEN c.kind < 55 THEN 'institutional' ELSE 'professional' END AS claim_type,
            c.person_id, c.person_id AS member_id, 'bench' AS payer, 'bench' AS plan,
            c.service_date AS claim_start_date,
            c.service_date + (CASE WHEN c.kind < 5 THEN 4 ELSE 0 END) AS claim_end_date,
            CAST(NULL AS DATE) AS claim_line_start_date, CAST(NULL AS DATE) AS claim_line_end_date,
            CASE WHEN c.kind < 5 THEN c.service_date END AS admission_date,
            CASE WHEN c.kind < 5 THEN c.service_date + (4) END AS discharge_date,
            CAST(NULL AS VARCHAR) AS admit_type_code, CAST(NULL AS VARCHAR) AS admit_source_code,
            CAST(NULL AS VARCHAR) AS discharge_disposition_code,
            CASE WHEN c.kind BETWEEN 55 AND 79 THEN '23' WHEN c.kind >= 55 THEN '11' END AS place_of_service_code,
            CASE WHEN c.kind < 5 THEN '111' WHEN c.kind < 55 THEN '131' END AS bill_type_code,
            CASE WHEN c.kind < 1 THEN '0114' WHEN c.kind < 5 THEN '0120' WHEN c.kind < 55 THEN '0450' END
                AS revenue_center_code,
            CASE WHEN c.kind BETWEEN 55 AND 79 THEN '99283' WHEN c.kind BETWEEN 80 AND 149 THEN '90837'
                 WHEN c.kind BETWEEN 150 AND 249 THEN '99392' WHEN c.kind BETWEEN 250 AND 329 THEN 'D1120'
                 WHEN c.kind >= 330 THEN '99213' END AS hcpcs_code,
            CAST(NULL AS VARCHAR) AS hcpcs_modifier_1, CAST(NULL AS VARCHAR) AS rendering_npi,
            printf('%010d', c.h % 3000) AS billing_npi,
            CASE WHEN c.kind < 55 THEN printf('%010d', c.h % 300) END AS facility_npi,
            c.service_date + (CAST(10 + c.h % 70 AS INTEGER)) AS paid_date,
            CAST(20 + c.h % 400 AS DOUBLE) * CASE WHEN c.kind < 5 THEN 40 ELSE 1 END AS paid_amount,
            CAST(NULL AS DOUBLE) AS allowed_amount, CAST(NULL AS DOUBLE) AS charge_amount,
            'icd-10-cm' AS diagnosis_code_type,
            d1.code AS diagnosis_code_1,
            CASE WHEN c.h % 2 = 0 THEN d2.code END AS diagnosis_code_2,
            CASE WHEN c.h % 5 = 0 THEN d3.code END AS diagnosis_code_3,
            {", ".join(f"CAST(NULL AS VARCHAR) AS diagnosis_code_{i}" for i in range(4, 26))},
            CASE WHEN c.h % 97 = 0 THEN 'denied' ELSE 'paid' END AS claim_status,
            CAST(0 AS BIGINT) AS adjustment_sequence,
            'medical_claim.csv' AS source_file, CAST(0 AS BIGINT) AS source_row
        FROM claims c
        CROSS JOIN range(1, 3) AS r(l)
        JOIN dx_ranked d1 ON d1.i = c.h % {n_dx}
        JOIN dx_ranked d2 ON d2.i = (c.h // 7) % {n_dx}
        JOIN dx_ranked d3 ON d3.i = (c.h // 11) % {n_dx}
        WHERE l = 1 OR c.h % 3 = 0
    """
    con.execute(f"CREATE TABLE lines AS {lines}")
    # 3% of claims adjusted a month later (a third of those reversed).
    _copy(con, f"""
        SELECT *, strftime(paid_date, '%Y-%m') AS delivery_month FROM lines WHERE paid_date <= DATE '{END}-28'
        UNION ALL
        SELECT * REPLACE (CAST(1 AS BIGINT) AS adjustment_sequence,
                          paid_date + (30) AS paid_date,
                          CASE WHEN hash(claim_id) % 3 = 0 THEN 'reversed' ELSE claim_status END AS claim_status),
               strftime(paid_date + (30), '%Y-%m') AS delivery_month
        FROM lines WHERE hash(claim_id, 1) % 100 < 3 AND paid_date + (30) <= DATE '{END}-28'
    """, root, "medical_claim")
    # ADT: most facility ED claims also arrive by ADT, a day after the visit, some at the same facility.
    _copy(con, f"""
        SELECT claim_id AS visit_id, person_id, person_id AS member_id, facility_npi, 'Hospital' AS facility_name,
               CAST(claim_start_date AS TIMESTAMP) + INTERVAL 14 HOUR AS arrival_datetime,
               CAST(NULL AS TIMESTAMP) AS discharge_datetime, CAST(NULL AS VARCHAR) AS chief_complaint,
               diagnosis_code_1, CAST(NULL AS VARCHAR) AS diagnosis_code_2, CAST(NULL AS VARCHAR) AS diagnosis_code_3,
               'discharged' AS disposition,
               CAST(claim_start_date AS TIMESTAMP) + INTERVAL 30 HOUR AS message_datetime,
               'ed_visit.csv' AS source_file, CAST(0 AS BIGINT) AS source_row,
               strftime(claim_start_date + (1), '%Y-%m') AS delivery_month
        FROM lines
        WHERE revenue_center_code = '0450' AND claim_line_number = 1 AND hash(claim_id, 2) % 10 < 7
          AND claim_start_date + (1) <= DATE '{END}-28'
    """, root, "ed_visit")
    _copy(con, f"""
        SELECT printf('R%s-%d', p.person_id, m.month_index) AS claim_id, CAST(1 AS BIGINT) AS claim_line_number,
               p.person_id, p.person_id AS member_id, 'bench' AS payer, 'bench' AS plan,
               CAST(NULL AS VARCHAR) AS prescribing_provider_npi, CAST(NULL AS VARCHAR) AS dispensing_provider_npi,
               m.month_start + (CAST(hash(p.person_id, m.month_index, 21) % 28 AS INTEGER)) AS dispensing_date,
               n.ndc_code, CASE WHEN hash(p.person_id, 22) % 2 = 0 THEN n.atc_code END AS atc_code,
               CAST(30 AS BIGINT) AS quantity, CAST(30 AS BIGINT) AS days_supply, CAST(0 AS BIGINT) AS refills,
               m.month_start + (CAST(hash(p.person_id, m.month_index, 21) % 28 AS INTEGER)) AS paid_date,
               CAST(15 + hash(p.person_id, m.month_index, 23) % 200 AS DOUBLE) AS paid_amount,
               CAST(NULL AS DOUBLE) AS allowed_amount, 'paid' AS claim_status, CAST(0 AS BIGINT) AS adjustment_sequence,
               'pharmacy_claim.parquet' AS source_file, CAST(0 AS BIGINT) AS source_row, m.month AS delivery_month
        FROM people p
        JOIN months m ON p.enrollment_start_date <= m.month_end
        JOIN ndc_pool n ON n.i = hash(p.person_id, 24) % {n_ndc}
        WHERE hash(p.person_id, 25) % 100 < 12 AND hash(p.person_id, m.month_index, 26) % 100 < 80
    """, root, "pharmacy_claim")
    _copy(con, """
        SELECT p.person_id, m.month_start + (5) AS screening_date, 'ahc_hrsn' AS instrument,
               CASE hash(p.person_id, 31) % 4 WHEN 0 THEN 'housing_instability' WHEN 1 THEN 'food_insecurity'
                    WHEN 2 THEN 'transportation' ELSE 'utilities' END AS domain,
               CASE WHEN hash(p.person_id, 32) % 3 = 0 THEN 'positive' ELSE 'negative' END AS result,
               'sdoh_screening.csv' AS source_file, CAST(0 AS BIGINT) AS source_row, m.month AS delivery_month
        FROM people p JOIN months m ON p.enrollment_start_date <= m.month_end
        WHERE hash(p.person_id, m.month_index, 33) % 1000 < 5
    """, root, "sdoh_screening")
    con.close()


def main() -> None:
    if sys.argv[1:] == ["--generate"]:
        if GENERATED.exists():
            import shutil

            shutil.rmtree(GENERATED)
        t = time.perf_counter()
        generate_lake(GENERATED)
        marker = GENERATED / "lake" / "_generated.json"
        marker.write_text(json.dumps({"version": GENERATOR_VERSION, "seconds": round(time.perf_counter() - t, 1)}))
        return
    workspace = generated_lake()
    usage_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    target = timed_build(workspace)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "name": "features",
        "seconds": target["seconds"],
        "target_seconds": TARGET_SECONDS,
        "cpu_seconds": target["cpu_seconds"],
        "load_average_1m": round(os.getloadavg()[0], 1),
        "cores": os.cpu_count(),
        "children": target["children"],
        "features": len(feature_names()),
        "months_in_lake": MONTHS,
        "medical_claim_lines_in_lake": target["lines"],
        "peak_rss_mb_in_process": round(peak_mb),
        "rss_mb_before_build": round(usage_before / 1024),
        "lake": f"generated by bench_features.py: {target['children']:,} children, {target['lines']:,} claim lines",
    }
    ingested = ingested_lake()
    if ingested is not None:
        real = timed_build(ingested)
        result["note"] = (f"on the lake the ingest benchmark left (bench/work/ingest500k: {real['children']:,} children, "
                          f"{real['lines']:,} claim lines) the same build took {real['seconds']} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
