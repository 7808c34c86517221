"""Write one scoring month to ``outputs/YYYY-MM/``: complete or absent, and the same bytes on a rerun.

The month is built in a hidden folder beside its final place (``outputs/.tmp-YYYY-MM-<pid>``)
and renamed into place only when every file is written; a failure removes the hidden folder, so
no reader ever sees half a month. Re-publishing a month swaps the old folder out and the new one
in, restoring the old one if the swap fails.

Reproducible bytes: Parquet and CSV carry no times; the XLSX's document dates are the last day of
the month scored; the report's SVG plots use a fixed id salt and no date. Only run.json's
``timings`` differ between two runs of the same month.

Spreadsheet safety: every text cell whose first non-blank character is ``= + - @``, a tab or a
carriage return is prefixed with ``'`` in both the CSV and the XLSX, so a name like
``=HYPERLINK(...)`` is shown, never run; the XLSX is written with ``write_string`` and
xlsxwriter's string conversions off, so no cell becomes a formula, number or link.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from riskstrat.provenance import sha256_file

FILES = ("scores.parquet", "explanations.parquet", "worklist.csv", "worklist.xlsx", "report.html", "run.json")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

SCORES_SCHEMA = pa.schema([
    ("as_of", pa.string()), ("person_id", pa.string()), ("member_id", pa.string()), ("household_id", pa.string()),
    ("age", pa.int64()), ("score", pa.float64()), ("percentile", pa.float64()), ("tier", pa.string()),
    ("rank", pa.int64()), ("flagged", pa.bool_()), ("flag_reason", pa.string()), ("flagged_last_month", pa.bool_()),
    ("program_match", pa.string()), ("program_ids", pa.string()), ("program_reason", pa.string()),
    ("suppressed", pa.bool_()), ("suppression", pa.string()), ("suppression_reason", pa.string()),
    ("top_reasons", pa.list_(pa.string())), ("reason_features", pa.list_(pa.string())), ("model_id", pa.string()),
])
EXPLANATIONS_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("feature", pa.string()), ("feature_value", pa.float64()),
    ("shap_value", pa.float64()), ("base_value", pa.float64()),
])


class PublishError(RuntimeError):
    """The month could not be published; the previous state of outputs/ is kept."""


# ---- spreadsheet safety --------------------------------------------------------------------------


def neutralise(value):
    """A text cell a spreadsheet could run as a formula, made inert with a leading ``'``; other values as is."""
    if isinstance(value, str) and value and (value[0] in _FORMULA_START or value.lstrip(" ")[:1] in _FORMULA_START):
        return "'" + value
    return value


def _cell(value):
    """None for missing, plain Python numbers, everything else as text."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return str(value)


def write_worklist_csv(worklist: pd.DataFrame, path: Path) -> None:
    """UTF-8 with a byte-order mark (so Excel reads accents), every text cell neutralised."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(list(worklist.columns))
        for row in worklist.itertuples(index=False, name=None):
            writer.writerow(["" if (c := _cell(v)) is None else neutralise(c) for v in row])


_HEADERS = {
    "position": "#", "rank": "Rank", "household_group": "Family", "new_or_continuing": "New / continuing",
    "person_id": "Person ID", "member_id": "Member ID", "household_id": "Household (case) ID",
    "first_name": "First name", "last_name": "Last name", "birth_date": "Date of birth", "age": "Age",
    "phone": "Phone", "address": "Address", "city": "City", "state": "State", "zip_code": "ZIP",
    "score_band": "Risk band", "program_match": "Program match", "program_reason": "Why this program",
    "top_reasons": "Top reasons", "last_ed_visit": "Last ED visit", "care_gaps": "Care gaps",
    "other_children_in_household": "Other children in household (not listed)",
}
_WIDTHS = {"top_reasons": 70, "program_reason": 50, "care_gaps": 40, "address": 28, "program_match": 22}


def write_worklist_xlsx(worklist: pd.DataFrame, path: Path, as_of: str) -> None:
    """One sheet, header frozen, filters on; every text written with ``write_string``."""
    import xlsxwriter

    from riskstrat.features import month_end

    workbook = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False, "in_memory": True,
    })
    # A fixed document date (the month scored) keeps the bytes the same on a rerun.
    stamp = dt.datetime.combine(month_end(as_of), dt.time())
    workbook.set_properties({"title": f"riskstrat worklist {as_of}", "author": "riskstrat", "created": stamp})
    sheet = workbook.add_worksheet("worklist")
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    columns = list(worklist.columns)
    for j, name in enumerate(columns):
        sheet.write_string(0, j, _HEADERS.get(name, name), header)
        sheet.set_column(j, j, _WIDTHS.get(name, 14), wrap if name in _WIDTHS else None)
    for i, row in enumerate(worklist.itertuples(index=False, name=None), start=1):
        for j, value in enumerate(row):
            cell = _cell(value)
            if cell is None:
                continue
            if isinstance(cell, (int, float)):
                sheet.write_number(i, j, cell)
            else:
                sheet.write_string(i, j, neutralise(cell))
    sheet.freeze_panes(1, 0)
    if len(worklist):
        sheet.autofilter(0, 0, len(worklist), len(columns) - 1)
    workbook.close()


# ---- tables ----------------------------------------------------------------------------------------


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


def write_explanations(explanations: pd.DataFrame, path: Path) -> None:
    """explanations.parquet: one row per flagged child and model feature, with the base value."""
    table = pa.Table.from_pandas(explanations[[f.name for f in EXPLANATIONS_SCHEMA]], schema=EXPLANATIONS_SCHEMA,
                                 preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd")


# ---- provenance ------------------------------------------------------------------------------------


def lake_inputs(workspace: Path, as_of: str) -> dict:
    """Every lake partition a month's scoring may read (delivery month up to T): sha256 and rows."""
    lake = Path(workspace) / "lake"
    files: dict[str, dict] = {}
    if lake.is_dir():
        for path in sorted(lake.glob("*/delivery_month=*/*.parquet")):
            if path.parent.name.split("=", 1)[1] <= as_of:
                files[path.relative_to(workspace).as_posix()] = {
                    "sha256": sha256_file(path), "rows": pq.read_metadata(path).num_rows,
                }
    digest = hashlib.sha256("\n".join(f"{k} {v['sha256']}" for k, v in files.items()).encode()).hexdigest()
    out = {"digest": digest, "partitions": files}
    deliveries = lake / "_deliveries.parquet"
    if deliveries.exists():
        out["deliveries_ledger"] = {"path": deliveries.relative_to(workspace).as_posix(),
                                    "sha256": sha256_file(deliveries)}
    return out


def _code_version() -> dict:
    try:
        from riskstrat.train import code_version

        return code_version()
    except ImportError:  # pragma: no cover - the training stage is part of the package
        from riskstrat import __version__

        return {"package": "riskstrat", "version": __version__}


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"not JSON: {type(obj).__name__}")


def run_manifest(workspace: Path, month, inputs, settings, outputs: dict[str, str], timings: dict) -> dict:
    """run.json: inputs and their hashes, model, code, rows in and out, output hashes, timings."""
    workspace = Path(workspace)
    model = inputs.model
    model_path = getattr(model, "path", None)
    model_files = {}
    if model_path is not None and (Path(model_path) / "checksums.json").exists():
        model_files = json.loads((Path(model_path) / "checksums.json").read_text(encoding="utf-8"))
    prev_path = workspace / "outputs" / _previous(month.as_of) / "scores.parquet"
    c = month.counts
    return {
        "as_of": month.as_of,
        "model": {
            "model_id": month.model_id,
            "path": Path(model_path).relative_to(workspace).as_posix() if model_path and Path(model_path).is_relative_to(workspace) else None,
            "checksums": model_files,
        },
        "code": _code_version(),
        "settings": {"scoring": settings.scoring.model_dump()},
        "inputs": {
            "lake": lake_inputs(workspace, month.as_of),
            "eligibility_snapshot": month.as_of,
            "care_management_snapshot": inputs.inputs.get("care_management_snapshot"),
            "previous_scores": {"path": prev_path.relative_to(workspace).as_posix(), "sha256": sha256_file(prev_path)}
            if prev_path.exists() else None,
            "programs": {"path": Path(month.programs.source).name, "sha256": month.programs.sha256},
        },
        "rows": {
            "population_attrition": [{"step": s, "people": n} for s, n in inputs.attrition],
            "feature_rows_in": int(len(inputs.features)),
            "scored": c["scored"],
            "suppressed": c["suppressed"],
            "flagged": c["flagged"],
            "worklist_rows": c["worklist_rows"],
            "households_on_worklist": c["households"],
            "explanation_rows": c["explanation_rows"],
        },
        "counts": month.counts,
        "audit": month.audit.manifest() if month.audit is not None else None,
        "outputs": outputs,
        "timings": timings,
    }


def _previous(as_of: str) -> str:
    from riskstrat.score import previous_month

    return previous_month(as_of)


# ---- the month folder --------------------------------------------------------------------------------


def _write_all(folder: Path, workspace: Path, month, inputs, settings, timings: dict, progress) -> None:
    from riskstrat import report

    steps = [
        ("scores.parquet", lambda p: write_scores(month.scores, p)),
        ("explanations.parquet", lambda p: write_explanations(month.explanations, p)),
        ("worklist.csv", lambda p: write_worklist_csv(month.worklist, p)),
        ("worklist.xlsx", lambda p: write_worklist_xlsx(month.worklist, p, month.as_of)),
        ("report.html", lambda p: p.write_text(report.render_report(month, inputs, settings), encoding="utf-8")),
    ]
    outputs = {}
    for i, (name, write) in enumerate(steps):
        t0 = time.perf_counter()
        write(folder / name)
        outputs[name] = sha256_file(folder / name)
        timings[f"write_{name}"] = round(time.perf_counter() - t0, 3)
        if progress:
            progress("publishing", i + 1, len(steps) + 1)
    manifest = run_manifest(workspace, month, inputs, settings, outputs, timings)
    (folder / "run.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    if progress:
        progress("publishing", len(steps) + 1, len(steps) + 1)


def publish_month(workspace: Path, month, inputs, settings, timings: dict, progress=None) -> Path:
    """Write ``outputs/<month>/`` atomically; returns its path. On failure nothing of this run remains."""
    workspace = Path(workspace)
    root = workspace / "outputs"
    root.mkdir(parents=True, exist_ok=True)
    final = root / month.as_of
    _recover(root, month.as_of)
    tmp = root / f".tmp-{month.as_of}-{os.getpid()}"
    tmp.mkdir()
    try:
        _write_all(tmp, workspace, month, inputs, settings, timings, progress)
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _recover(root: Path, as_of: str) -> None:
    """Undo what a run killed mid-publish left: a half-built month goes; a month that was being
    replaced comes back if the new one never arrived."""
    for stale in root.glob(f".tmp-{as_of}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    final = root / as_of
    for old in sorted(root.glob(f".old-{as_of}-*")):
        if not final.exists():
            os.rename(old, final)
        else:
            shutil.rmtree(old, ignore_errors=True)


def _swap_into_place(tmp: Path, final: Path) -> None:
    if not final.exists():
        os.rename(tmp, final)
        return
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
