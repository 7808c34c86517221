"""The audit notebook (``notebooks/audit.py``, shipped as ``riskstrat.notebooks``), run for one
workspace, list and month into an executed ``.ipynb`` a data scientist opens: what ``riskstrat
audit`` and ``make audit`` do, from a source checkout or an installed wheel alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import jupytext
import nbclient
import nbformat

from riskstrat.config import DEFAULT_SPEC
from riskstrat.core.errors import RiskstratError
from riskstrat.core.files import write_atomic
from riskstrat.core.workspace import output_months

NOTEBOOK = "audit.py"
#: The kernelspec :func:`run_audit` writes for this interpreter.
KERNEL = "riskstrat-audit"


class NotebookError(RiskstratError):
    """The audit notebook could not run; the message names the cell's error in one line."""


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The notebook's parameters are environment variables its kernel inherits (as when a person
    runs it by hand); the caller's environment is restored afterwards."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def audit_notebook_path(workspace: Path | str, spec: str, month: str) -> Path:
    """Where :func:`run_audit` writes by default: ``W/audit/<list>-<month>.ipynb``."""
    return Path(workspace) / "audit" / f"{spec}-{month}.ipynb"


def run_audit(workspace: Path | str, spec: str = DEFAULT_SPEC, month: str | None = None, model_id: str | None = None,
              out: Path | str | None = None, timeout: int = 900) -> Path:
    """Execute the audit notebook for list ``spec`` and ``month`` (default: the latest scored) and
    write it, with its tables and figures, to ``out`` (default :func:`audit_notebook_path`)."""
    workspace = Path(workspace).resolve()
    months = output_months(workspace)
    if not months:
        raise NotebookError(f"{workspace / 'outputs'}: no scored month yet; run `riskstrat score` first")
    month = month or months[-1]
    out = Path(out) if out is not None else audit_notebook_path(workspace, spec, month)
    notebook = jupytext.reads(resources.files("riskstrat.notebooks").joinpath(NOTEBOOK).read_text(encoding="utf-8"),
                              fmt="py:percent")
    parameters = {"RISKSTRAT_WORKSPACE": str(workspace), "RISKSTRAT_LIST": spec, "RISKSTRAT_MONTH": month,
                  "RISKSTRAT_MODEL": model_id or ""}
    # The kernel works in a folder of its own: nothing it might write lands beside the caller. It is
    # this interpreter, named by a kernelspec of our own there: a "python3" kernelspec elsewhere on
    # the Jupyter path (a user's, another venv's) would run another Python and another riskstrat.
    with tempfile.TemporaryDirectory(prefix="riskstrat-audit-") as scratch:
        kernel_dir = Path(scratch) / "kernels" / KERNEL
        kernel_dir.mkdir(parents=True)
        (kernel_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "riskstrat audit", "language": "python"}), encoding="utf-8")
        jupyter_path = os.pathsep.join(p for p in (scratch, os.environ.get("JUPYTER_PATH")) if p)
        with _environment({**parameters, "JUPYTER_PATH": jupyter_path}):
            client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name=KERNEL,
                                             resources={"metadata": {"path": scratch}})
            try:
                # The kernel's own stderr (its warning that a local kernel talks over TCP) is not the
                # analyst's; a failing cell still comes back as an error output.
                client.execute(stderr=subprocess.DEVNULL)
            except nbclient.exceptions.DeadKernelError:
                raise NotebookError("the audit notebook's kernel died (out of memory?)") from None
            except nbclient.exceptions.CellExecutionError as exc:
                # The error's type and the cell, not its text: a value in it could be a member's.
                code_cells = [c for c in notebook.cells if c.cell_type == "code"]
                failed = next((i for i, c in enumerate(code_cells, start=1)
                               if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
                raise NotebookError(f"the audit notebook stopped at code cell {failed} with {exc.ename}") from None
    write_atomic(out, nbformat.writes(notebook))
    return out
