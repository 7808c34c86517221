"""Step records: a step whose inputs hash the same as when it last finished, and whose outputs are
still the bytes it wrote, is skipped.

Job state sits in ``W/.riskstrat/monthly/`` (locks and step records); deleting it is safe: the
next run redoes every step and, inputs being equal, writes the same outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from riskstrat.audit.month import previous_audit
from riskstrat.config import Settings, specs_folder
from riskstrat.core.files import write_atomic
from riskstrat.core.fingerprint import code_fingerprint, fingerprint, lake_fingerprint, sha256_file
from riskstrat.core.months import add_months, month_end
from riskstrat.core.workspace import STATE, output_dir, output_months
from riskstrat.outreach.log import log_fingerprint, read_log

STATE_DIR = Path(STATE) / "monthly"


def tree_digest(root: Path | str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (empty when it does not exist)."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def specs_digest(workspace: Path | str, settings: Settings) -> dict[str, str]:
    """sha256 of each model specification file in force (the plan's folder or the shipped one)."""
    return tree_digest(specs_folder(workspace, settings.model))


def train_inputs(workspace: Path | str, month: str, settings: Settings) -> str:
    """Fingerprint of what a training run as of ``month`` reads: the lake, the specifications, the model settings, the code."""
    return fingerprint({"lake": lake_fingerprint(workspace, month)["digest"], "model": settings.model.model_dump(mode="json"),
                        "specs": specs_digest(workspace, settings), "code": code_fingerprint()["digest"]})


def score_inputs(workspace: Path | str, month: str, settings: Settings, model_ids: dict[str, str] | None) -> str:
    """Fingerprint of what scoring ``month`` reads: the lake, the models (specification -> id), the
    specifications, last month's scores, settings, code.

    Last month's scores are an input because the report shows what changed since them; last
    month's audit (its run.json: drift profile, judged months) because drift is measured against
    it and its judgements are reused; every published
    month up to ``month`` because the report judges those that have matured; the outreach log up to
the month's end because it suppresses children and makes them "continuing".
    """
    ws = Path(workspace)
    previous = output_dir(ws, add_months(month, -1)) / "scores.parquet"
    published = {m: sha256_file(output_dir(ws, m) / "scores.parquet") for m in output_months(ws) if m < month}
    return fingerprint({
        "lake": lake_fingerprint(ws, month)["digest"], "models": model_ids,
        "previous_scores": sha256_file(previous) if previous.is_file() else None,
        "specs": specs_digest(ws, settings),
        "scoring": settings.scoring.model_dump(mode="json"), "outcome": settings.model.outcome, "code": code_fingerprint()["digest"],
        "audit": settings.audit.model_dump(mode="json"), "previous_audit": fingerprint({spec: previous_audit(ws, month, spec)[0] for spec in sorted(model_ids or {})}),
        "published": published, "horizon": settings.model.horizon_months, "runout": settings.model.runout_months,
        "outreach_log": log_fingerprint(read_log(ws, settings, month_end(month)), settings),
    })


def state_dir(workspace: Path | str) -> Path:
    """``W/.riskstrat/monthly/``: the job's locks and step records."""
    return Path(workspace) / STATE_DIR


def _steps_path(workspace: Path | str, month: str) -> Path:
    return state_dir(workspace) / f"{month}.steps.json"


def read_steps(workspace: Path | str, month: str) -> dict[str, dict]:
    """The month's step records (empty when none, or when the file is unreadable: then every step reruns)."""
    path = _steps_path(workspace, month)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def step_is_current(workspace: Path | str, month: str, step: str, inputs: str) -> bool:
    """True when ``step`` finished with these ``inputs`` and every output it recorded is unchanged.

    Checking the outputs too means a deleted or edited output folder is rebuilt, not trusted.
    """
    record = read_steps(workspace, month).get(step)
    if not record or record.get("inputs") != inputs:
        return False
    root = Path(workspace)
    for rel, sha in record.get("outputs", {}).items():
        path = root / rel
        if not path.is_file() or sha256_file(path) != sha:
            return False
    return True


def step_record(workspace: Path | str, month: str, step: str) -> dict | None:
    """The last record of ``step`` for ``month``, or None."""
    return read_steps(workspace, month).get(step)


def record_step(workspace: Path | str, month: str, step: str, inputs: str, outputs: Iterable[Path] = (),
                detail: dict | None = None) -> None:
    """Remember that ``step`` finished with ``inputs``, writing ``outputs`` (files or folders)."""
    root = Path(workspace)
    files: dict[str, str] = {}
    for out in outputs:
        out = Path(out)
        if out.is_dir():
            for rel, sha in tree_digest(out).items():
                files[(out / rel).relative_to(root).as_posix()] = sha
        elif out.is_file():
            files[out.relative_to(root).as_posix()] = sha256_file(out)
    steps = read_steps(workspace, month)
    steps[step] = {"inputs": inputs, "outputs": files, "detail": detail or {},
                   "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_atomic(_steps_path(workspace, month), json.dumps(steps, indent=1, sort_keys=True, default=str))
