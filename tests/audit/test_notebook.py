"""The audit notebook runs clean on a small synthetic plan taken through the real pipeline.

synth -> ingest -> train -> score through the library (the stages the CLI calls), then
``notebooks/audit.py`` is executed cell by cell with nbclient, as ``riskstrat audit`` runs it.
"""

from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "audit.py"

pytestmark = pytest.mark.slow

from auditplan import END  # noqa: E402


def test_audit_notebook_runs_clean(scored_plan, monkeypatch, tmp_path):
    import nbformat

    from riskstrat.audit.notebook import run_audit

    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows the figures
    # a "python3" kernelspec of another Python on the Jupyter path must not be the one that runs
    foreign = tmp_path / "jupyter" / "kernels" / "python3"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text('{"argv": ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", '
                                         '"{connection_file}"], "display_name": "other", "language": "python"}')
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # the notebook as riskstrat ships it (riskstrat.notebooks), as `riskstrat audit` runs it
    path = run_audit(scored_plan, "acute_event", END, out=tmp_path / "audit.ipynb", timeout=600)
    nb = nbformat.read(path, as_version=4)
    assert [c.source for c in nb.cells] == [c.source for c in jupytext.read(NOTEBOOK).cells]  # the checkout's
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    markdown = "\n".join(o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {}))
    assert f"**Month** {END}" in markdown
    assert "Too few children to judge" in markdown or "No group differs" in markdown or "x that of other children" in markdown
    # The Obermeyer check said something for every group: a gap, or that the group is too small.
    assert "At the same score" in markdown or "too few children to judge (n = " in markdown
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert svgs and len(images) >= 4  # calibration, score histogram, SHAP summary, dependence plots
    # The two matured months were judged (deliveries through END cover 2025-01 and 2025-02).
    assert any("2025-02" in o.get("data", {}).get("text/plain", "") and "auroc" in o.get("data", {}).get("text/plain", "")
               for o in outputs)
    # Member ids never reach the notebook's output.
    assert "P1000" not in "\n".join(str(o) for o in outputs)
