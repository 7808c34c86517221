"""riskstrat installed from its wheel, run far from its source checkout, as a new user would.

The wheel is built from this checkout and installed with its pinned dependencies into a fresh
virtual environment in a temporary folder; there, with no path leading back to the checkout,
synth, then ingest -> train -> monthly run on a small plan through the installed ``riskstrat``
command (the plan's earlier months were ingested by the checkout, shared with the monthly-flow
tests: ``smallplan.py``). The monthly run scores, explains and publishes the month with the models
just trained; a ``riskstrat score`` of its own here repeated that work for another month and
checked nothing the monthly run does not (the command is tested from the checkout:
tests/score/test_publish_month.py). Slow (a virtual environment and a Prefect flow run), so it runs
once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from smallplan import END as PLAN_END
from smallplan import INGESTED

from riskstrat.core.months import add_months
from riskstrat.jobs.steps import read_steps

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
END, MONTHLY = "2025-11", "2025-10"


def _run(args: list[str], cwd: Path, env: dict, timeout: int = 900) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(the fresh environment's bin folder, the environment to run in), riskstrat installed from its wheel."""
    root = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PREFECT_"))}
    env.update(PREFECT_HOME=str(root / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    # Built from a copy of what git tracks: setuptools writes build/ beside the sources, and the
    # checkout must stay as it is (and untracked files must not slip into the wheel).
    source = root / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(root / "dist"), str(source)],
         root, env)
    (wheel,) = (root / "dist").glob("riskstrat-*.whl")
    _run([sys.executable, "-m", "venv", str(root / "venv")], root, env)
    bin_dir = root / "venv" / "bin"
    # uv (a dev dependency, as make install uses it) resolves and installs the pinned set into the
    # fresh environment several times faster than pip, from its cache when make install filled it.
    uv = Path(sys.executable).with_name("uv")
    _run([str(uv), "pip", "install", "--quiet", "--python", str(bin_dir / "python"), "-c", str(REPO / "constraints.txt"),
          str(wheel)], root, env, timeout=1800)
    return bin_dir, env


def test_the_installed_package_is_the_wheel_and_carries_contracts_models_flows_and_notebooks(installed, tmp_path):
    bin_dir, env = installed
    code = ("import json, importlib.resources as r, riskstrat, riskstrat.flows.monthly; "
            "print(json.dumps({'file': riskstrat.__file__, "
            "'contracts': sorted(p.name for p in r.files('riskstrat.data_contracts').iterdir() if p.name.endswith('.yaml')), "
            "'models': sorted(p.name for p in r.files('riskstrat.model_specs').iterdir() if p.name.endswith('.yaml')), "
            "'concepts': len([p for p in r.files('riskstrat.features').joinpath('concepts').iterdir()]), "
            "'notebooks': sorted(p.name for p in r.files('riskstrat.notebooks').iterdir() if p.name.endswith('.py'))}))")
    found = json.loads(_run([str(bin_dir / "python"), "-c", code], tmp_path, env))
    assert Path(found["file"]).is_relative_to(bin_dir.parent), found["file"]
    assert not Path(found["file"]).is_relative_to(REPO)
    assert found["contracts"] == sorted(f"{t}.yaml" for t in ("eligibility", "medical_claim", "pharmacy_claim", "ed_visit",
                                                              "care_management", "sdoh_screening"))
    assert found["models"] == ["acute_event.yaml", "cares.yaml", "stronger_together.yaml"]
    assert found["concepts"] > 30
    assert "audit.py" in found["notebooks"]  # riskstrat audit runs it from the installed package


def test_synth_ingest_train_and_monthly_run_from_the_wheel(installed, tmp_path, small_plan):
    bin_dir, env = installed
    riskstrat = str(bin_dir / "riskstrat")
    made = tmp_path / "made"
    _run([riskstrat, "synth", "--workspace", str(made), "--members", "300", "--months", "2", "--end", END,
          "--seed", "4", "--defects", "0.002"], tmp_path, env)
    assert sorted(p.name for p in (made / "landing").iterdir()) == [MONTHLY, END]
    # The run itself starts from the shared small plan, whose first 18 deliveries are already in
    # its lake: the installed command ingests the last three, trains as of the month and runs it.
    assert add_months(INGESTED, 3) == PLAN_END == END
    ws = Path(shutil.copytree(small_plan, tmp_path / "plan"))
    ingested = _run([riskstrat, "ingest", "--workspace", str(ws)], tmp_path, env)
    assert "3 month(s) ingested" in ingested
    trained = _run([riskstrat, "train", "--workspace", str(ws), "--as-of", MONTHLY], tmp_path, env)
    assert "champion" in trained
    monthly = _run([riskstrat, "monthly", "--workspace", str(ws), "--month", MONTHLY], tmp_path, env)
    assert f"riskstrat monthly {MONTHLY}: done" in monthly
    steps = read_steps(ws, MONTHLY)
    assert "score" in steps and "train" not in steps, sorted(steps)  # the champions just trained are current
    assert (ws / "outputs" / MONTHLY / "worklist.xlsx").is_file()
    run = json.loads((ws / "outputs" / MONTHLY / "run.json").read_text(encoding="utf-8"))
    assert run["code"]["git_commit"] is None and len(run["code"]["digest"]) == 64  # the wheel, not a checkout
    assert run["counts"]["lists"]["acute_event"]["flagged"] == 25  # the general list, at its capacity
    assert sorted(run["models"]) == ["acute_event", "cares", "stronger_together"]
