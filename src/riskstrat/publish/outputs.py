"""Write one scoring month to ``outputs/YYYY-MM/``: complete or absent, and the same bytes on a rerun.

The month is built in a hidden folder beside its final place and swapped in only when every
file is written (:func:`riskstrat.core.files.staged_folder`), so no reader ever sees half a
month, and re-publishing a month keeps the old one until the new one is whole.

Reproducible bytes: Parquet and CSV carry no times; the XLSX's document dates are the last day of
the month scored; the report's SVG plots use a fixed id salt and no date. Only run.json's
``timings`` differ between two runs of the same month.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskstrat.config import Settings
from riskstrat.core.files import staged_folder
from riskstrat.core.fingerprint import code_fingerprint, lake_fingerprint, sha256_file
from riskstrat.core.months import add_months
from riskstrat.core.progress import Progress, tick
from riskstrat.core.workspace import deliveries_path, output_dir
from riskstrat.publish import report
from riskstrat.publish.worklist_files import ALL_LISTS, write_worklist_csv, write_worklist_xlsx
from riskstrat.scoring.month import MonthInputs, MonthScores
from riskstrat.scoring.worklist import WORKLIST_COLUMNS

#: The files every month holds; besides them, one ``worklist_<list>.csv`` per list scored (:func:`month_files`).
FILES = ("scores.parquet", "explanations.parquet", "worklists.parquet", "worklist.csv", "worklist.xlsx", "report.html", "run.json")

SCORES_SCHEMA = pa.schema([
    ("as_of", pa.string()), ("list", pa.string()), ("list_title", pa.string()), ("person_id", pa.string()),
    ("member_id", pa.string()), ("household_id", pa.string()),
    ("age", pa.int64()), ("score", pa.float64()), ("percentile", pa.float64()), ("tier", pa.string()),
    ("rank", pa.int64()), ("flagged", pa.bool_()), ("flag_reason", pa.string()), ("flagged_last_month", pa.bool_()),
    ("in_outreach", pa.bool_()),
    ("program_match", pa.string()), ("program_ids", pa.string()), ("program_reason", pa.string()),
    ("suppressed", pa.bool_()), ("suppression", pa.string()), ("suppression_reason", pa.string()),
    ("top_reasons", pa.list_(pa.string())), ("reason_features", pa.list_(pa.string())), ("model_id", pa.string()),
])

EXPLANATIONS_SCHEMA = pa.schema([
    ("list", pa.string()), ("person_id", pa.string()), ("feature", pa.string()), ("feature_value", pa.float64()),
    ("shap_value", pa.float64()), ("base_value", pa.float64()),
])


#: worklists.parquet: every worklist's rows as values, not as a spreadsheet shows them (the web
#: worklist reads it, riskstrat.app); ``worklist`` is "all" for the combined list, else the list's name.
ALL_WORKLIST = "all"
WORKLISTS_SCHEMA = pa.schema([("worklist", pa.string())] + [
    (c, pa.int64() if c in ("position", "rank", "household_group", "age", "other_children_in_household") else pa.string())
    for c in WORKLIST_COLUMNS
])


def list_worklist_file(name: str) -> str:
    """The file name of one list's worklist: ``worklist_<list>.csv``."""
    return f"worklist_{name}.csv"


def month_files(lists: list[str]) -> tuple[str, ...]:
    """Every file a month scored on ``lists`` (specification names) holds."""
    return (*FILES[:4], *(list_worklist_file(n) for n in lists), *FILES[4:])


def _to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    arrays = []
    for f in schema:
        col = frame[f.name]
        if pa.types.is_list(f.type):
            values = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else None for v in col]
            arrays.append(pa.array(values, type=f.type))
        else:
            arrays.append(pa.array(col, type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_scores(scores: pd.DataFrame, path: Path) -> None:
    """scores.parquet with a fixed schema, so a month with no flags still has typed list columns."""
    pq.write_table(_to_table(scores, SCORES_SCHEMA), path, compression="zstd")


def write_worklists(month: MonthScores, path: Path) -> None:
    """worklists.parquet: the combined worklist, then each list's, one row per worklist row."""
    frames = [month.worklist.assign(worklist=ALL_WORKLIST), *(ls.worklist.assign(worklist=ls.spec.name) for ls in month.lists)]
    stacked = pd.concat(frames, ignore_index=True)
    arrays = [pa.array([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else
                        (int(v) if pa.types.is_integer(f.type) else str(v)) for v in stacked[f.name]], type=f.type)
              for f in WORKLISTS_SCHEMA]
    pq.write_table(pa.Table.from_arrays(arrays, schema=WORKLISTS_SCHEMA), path, compression="zstd")


def write_explanations(explanations: pd.DataFrame, path: Path) -> None:
    """explanations.parquet: one row per list, flagged child and feature of that list's model, with the base value."""
    table = pa.Table.from_pandas(explanations[[f.name for f in EXPLANATIONS_SCHEMA]], schema=EXPLANATIONS_SCHEMA,
                                 preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"not JSON: {type(obj).__name__}")


def lake_inputs(workspace: Path, as_of: str) -> dict:
    """Every lake partition a month's scoring may read (delivery month up to T), and the ingest ledger."""
    out = lake_fingerprint(workspace, as_of)
    ledger = deliveries_path(workspace)
    if ledger.exists():
        out["deliveries_ledger"] = {"path": ledger.relative_to(workspace).as_posix(), "sha256": sha256_file(ledger)}
    return out


def _model_files(workspace: Path, model) -> dict:
    """Where a model lives in the registry and its files' checksums."""
    path = getattr(model, "path", None)
    checksums = {}
    if path is not None and (Path(path) / "checksums.json").exists():
        checksums = json.loads((Path(path) / "checksums.json").read_text(encoding="utf-8"))
    inside = path is not None and Path(path).is_relative_to(workspace)
    return {"path": Path(path).relative_to(workspace).as_posix() if inside else None, "checksums": checksums}


def _audit_manifest(month: MonthScores) -> dict | None:
    """Each list's audit under ``lists`` (next month compares each list with its own), and every
    list's drift warnings together, each naming its list."""
    audited = [ls for ls in month.lists if ls.audit is not None]
    if not audited:
        return None
    return {"warnings": [f"{ls.spec.title}: {w}" for ls in audited for w in ls.audit.warnings],
            "lists": {ls.spec.name: ls.audit.manifest() for ls in audited}}


def run_manifest(workspace: Path, month: MonthScores, inputs: MonthInputs, settings: Settings, outputs: dict[str, str],
                 timings: dict) -> dict:
    """run.json: inputs and their hashes, each list's model, code, rows in and out, output hashes, timings."""
    workspace = Path(workspace)
    prev_path = output_dir(workspace, add_months(month.as_of, -1)) / "scores.parquet"
    c = month.counts
    return {
        "as_of": month.as_of,
        "models": month.model_ids,
        "lists": {ls.spec.name: {
            "title": ls.spec.title, "model_id": ls.model_id, "capacity": ls.capacity,
            "population": ls.spec.spec.population.label if ls.spec.population is not None else "every child",
            "worklist": list_worklist_file(ls.spec.name), "model": _model_files(workspace, ls.model),
        } for ls in month.lists},
        "skipped_lists": {s.name: {"title": s.title, "why": why} for s, why in month.skipped},
        "outdated_lists": {s.name: {"title": s.title, "why": why} for s, why in month.outdated},
        "notes": month.notes,
        "code": code_fingerprint(),
        "settings": {"scoring": settings.scoring.model_dump(), "engine": settings.engine.name},
        "inputs": {
            "lake": lake_inputs(workspace, month.as_of),
            "eligibility_snapshot": month.as_of,
            "care_management_snapshot": inputs.inputs.get("care_management_snapshot"),
            "outreach_log": inputs.inputs.get("outreach_log"),
            "previous_scores": {"path": prev_path.relative_to(workspace).as_posix(), "sha256": sha256_file(prev_path)}
            if prev_path.exists() else None,
            "specifications": {s.name: {"path": s.path.name, "sha256": sha256_file(s.path)} for s in inputs.specs},
        },
        "rows": {
            "population_attrition": [{"step": s, "people": n} for s, n in inputs.attrition],
            "feature_rows_in": int(len(inputs.features)),
            "scored": c["scored"],
            "score_rows": sum(ls.counts["scored"] for ls in month.lists),
            "suppressed": c["suppressed"],
            "flagged": c["flagged"],
            "worklist_rows": c["worklist_rows"],
            "households_on_worklist": c["households"],
            "explanation_rows": c["explanation_rows"],
        },
        "counts": month.counts,
        "audit": _audit_manifest(month),
        "outputs": outputs,
        "timings": timings,
    }


def _write_all(folder: Path, workspace: Path, month: MonthScores, inputs: MonthInputs, settings: Settings, timings: dict,
               progress: Progress | None) -> None:
    sheets = [(ALL_LISTS, month.worklist), *((ls.spec.title, ls.worklist) for ls in month.lists)]
    steps = [
        ("scores.parquet", lambda p: write_scores(month.scores, p)),
        ("explanations.parquet", lambda p: write_explanations(month.explanations, p)),
        ("worklists.parquet", lambda p: write_worklists(month, p)),
        ("worklist.csv", lambda p: write_worklist_csv(month.worklist, p)),
        *((list_worklist_file(ls.spec.name), lambda p, wl=ls.worklist: write_worklist_csv(wl, p)) for ls in month.lists),
        ("worklist.xlsx", lambda p: write_worklist_xlsx(sheets, p, month.as_of)),
        ("report.html", lambda p: p.write_text(report.render_report(month, inputs, settings), encoding="utf-8")),
    ]
    outputs = {}
    for i, (name, write) in enumerate(steps):
        t0 = time.perf_counter()
        write(folder / name)
        outputs[name] = sha256_file(folder / name)
        timings[f"write_{name}"] = round(time.perf_counter() - t0, 3)
        tick(progress, "publishing", i + 1, len(steps) + 1)
    manifest = run_manifest(workspace, month, inputs, settings, outputs, timings)
    (folder / "run.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    tick(progress, "publishing", len(steps) + 1, len(steps) + 1)


def publish_month(workspace: Path, month: MonthScores, inputs: MonthInputs, settings: Settings, timings: dict,
                  progress: Progress | None = None) -> Path:
    """Write ``outputs/<month>/`` atomically; returns its path. On failure nothing of this run remains."""
    workspace = Path(workspace)
    final = output_dir(workspace, month.as_of)
    with staged_folder(final) as tmp:
        _write_all(tmp, workspace, month, inputs, settings, timings, progress)
    return final
