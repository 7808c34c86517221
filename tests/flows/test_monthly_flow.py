"""The monthly flow for real: a synthetic plan, two consecutive months, a rerun and a refused delivery.

Slow by nature (ingest, training and scoring of a small plan), so every check shares one
session-scoped run of each month; all flow runs go through one Prefect test harness.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from smallplan import END as PLAN_END
from smallplan import INGESTED

from riskstrat import features
from riskstrat import jobs as job
from riskstrat.core.months import add_months
from riskstrat.publish.outputs import month_files

pytestmark = pytest.mark.slow

END = "2025-11"
FIRST, SECOND = "2025-09", "2025-10"  # months 19 and 20 of the plan: enough history to train on
LISTS = ["acute_event", "cares", "stronger_together"]  # the shipped specifications, in file order


def _artifacts(state):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    return {a.key: a for a in found}


def _task_run_names(state) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        found = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    return sorted(t.name.rsplit("-", 1)[0] if t.name.startswith("load settings") else t.name for t in found)


def _run(workspace: Path, month: str, engine: str | None = None):
    from riskstrat.flows.monthly import monthly

    state = monthly(str(workspace), month, engine, return_state=True)
    return state, state.result(raise_on_failure=False)


def _tree(workspace: Path) -> dict:
    """Every file a run may write, with its hash (job state excluded: it records when steps ran)."""
    return {area: job.tree_digest(workspace / area) for area in ("lake", "quarantine", "models", "outputs", "validation")}


@pytest.fixture(scope="session")
def plan(tmp_path_factory, small_plan) -> Path:
    """The small plan (smallplan.py), ingested through the month before FIRST: each run ingests its own month."""
    assert add_months(INGESTED, 1) == FIRST and PLAN_END == END
    return Path(shutil.copytree(small_plan, tmp_path_factory.mktemp("monthly") / "plan"))


@pytest.fixture(scope="session")
def runs(plan, prefect_harness, tmp_path_factory):
    """Run the first month, the second month, then the second again; keep states and file hashes.

    The second run also records each feature table it builds (the real builder, counted).
    """
    out = {"first": _run(plan, FIRST), "features_built_second": []}
    build = features.build_features

    def counted(workspace_or_connection, as_of, settings=None):
        out["features_built_second"].append(as_of)
        return build(workspace_or_connection, as_of, settings)

    with pytest.MonkeyPatch.context() as mp:
        # every stage that builds features imported the builder by name: count it in each
        for name, module in list(sys.modules.items()):
            if name.startswith("riskstrat") and getattr(module, "build_features", None) is build:
                mp.setattr(module, "build_features", counted)
        out["second"] = _run(plan, SECOND)
    out["tree_before_rerun"] = _tree(plan)
    out["rerun"] = _run(plan, SECOND)
    out["tree_after_rerun"] = _tree(plan)
    # The plan as the DuckDB runs left it, before later tests change it: the Spark run starts here.
    out["copy"] = Path(shutil.copytree(plan, tmp_path_factory.mktemp("copied") / "plan"))
    out["outreach_copy"] = Path(shutil.copytree(plan, tmp_path_factory.mktemp("outreach") / "plan"))
    return out


def _summary(result) -> job.MonthSummary:
    if isinstance(result, job.MonthlyRunFailed):
        pytest.fail(f"the monthly run failed: {result}")
    assert isinstance(result, dict), result
    return job.MonthSummary.from_dict(result)


def test_two_consecutive_months_publish_their_outputs(plan, runs):
    for name, month in (("first", FIRST), ("second", SECOND)):
        state, result = runs[name]
        assert state.is_completed(), result
        summary = _summary(result)
        out = plan / "outputs" / month
        assert sorted(p.name for p in out.iterdir()) == sorted(month_files(LISTS))
        manifest = json.loads((out / "run.json").read_text())
        assert sorted(manifest["models"]) == LISTS
        for spec, model_id in manifest["models"].items():
            assert f"{spec} {model_id}" in summary.model_id  # the summary names every list's model
        assert summary.scored and summary.scored > 0
        assert 0 < summary.flagged <= summary.scored
        assert summary.report == str(out / "report.html")
        assert summary.ingest["rows_in"] >= summary.ingest["rows_accepted"] > 0


def test_first_month_trains_every_list_and_the_next_reuses_the_champions(plan, runs):
    first = _summary(runs["first"][1])
    second = _summary(runs["second"][1])
    assert [s.status for s in first.steps if s.name == "train"] == ["ran"]
    assert "no champion" in first.retrain
    # Two programmes and the general list, each with its own model, outcome and champion.
    from riskstrat.model import registry

    champions = registry.champions(plan)
    assert sorted(champions) == LISTS
    outcomes = {spec: registry.load_model(plan, model_id).design.outcome for spec, model_id in champions.items()}
    assert outcomes == {"acute_event": "acute_event", "cares": "cares_acute", "stronger_together": "bh_crisis"}
    import pandas as pd

    scores = pd.read_parquet(plan / "outputs" / FIRST / "scores.parquet", columns=["list", "person_id", "flagged", "model_id"])
    assert set(scores["list"]) == set(LISTS)
    for spec, rows in scores.groupby("list"):
        assert set(rows["model_id"]) == {champions[spec]} and rows["person_id"].is_unique
    general = set(scores.loc[scores["list"] == "acute_event", "person_id"])
    assert set(scores.loc[scores["list"] != "acute_event", "person_id"]) <= general  # programmes rank fewer children
    assert [s.status for s in second.steps if s.name == "train"] == ["skipped"]
    assert "1 month old" in second.retrain
    assert second.model_id == first.model_id
    assert second.ingest["months_ingested"] == 1  # only the new delivery is read


def test_drift_is_checked_before_training_and_reported_with_the_month(plan, runs):
    first = _summary(runs["first"][1])
    second = _summary(runs["second"][1])
    assert [s.status for s in first.steps if s.name == "drift"] == ["skipped"]  # no champion to compare with
    names = [s.name for s in second.steps]
    assert names.index("validate") < names.index("drift") < names.index("train")
    drift = second.steps[names.index("drift")]
    assert drift.status == "ran" and "score PSI" in drift.note
    for spec in LISTS:
        assert f"{spec} m-" in drift.note  # every champion's drift is checked
    audit = json.loads((plan / "outputs" / SECOND / "run.json").read_text())["audit"]
    for spec in LISTS:
        # the first month left each list's profile behind
        assert set(audit["lists"][spec]["psi"]) == {"training", "last month"}
    md = _artifacts(runs["second"][0])[job.artifact_key(SECOND)].data
    for warning in audit["warnings"]:
        assert f"- drift: {warning}" in md
    if audit["warnings"]:
        assert md.index("## Warnings") < md.index("| step |")  # warnings first, not under the tables


def test_scoring_uses_the_feature_table_the_drift_check_built(runs):
    second = _summary(runs["second"][1])
    assert [s.status for s in second.steps if s.name in ("drift", "train", "score")] == ["ran", "skipped", "ran"]
    assert runs["features_built_second"].count(SECOND) == 1


def test_each_run_posts_the_months_summary_as_artifacts(runs):
    state, result = runs["second"]
    summary = _summary(result)
    arts = _artifacts(state)
    md = arts[job.artifact_key(SECOND)].data
    assert f"riskstrat monthly {SECOND}: done" in md
    assert summary.model_id in md
    for words in ("Rows in", "quarantined", "flagged", "report.html", "Data Docs"):
        assert words in md, words
    table = arts[f"{job.artifact_key(SECOND)}-delivery"].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert {r["table"] for r in rows} >= {"eligibility", "medical_claim"}
    assert all(r["delivery_month"] == SECOND for r in rows)


def test_rerunning_a_month_skips_every_step_and_changes_nothing(runs):
    state, result = runs["rerun"]
    assert state.is_completed(), result
    summary = _summary(result)
    status = {s.name: s.status for s in summary.steps}
    assert status["ingest"] == status["train"] == status["score"] == "skipped", summary.lines()
    assert runs["tree_after_rerun"] == runs["tree_before_rerun"]


def _logs(state) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    # Prefect ships logs to the API from a background worker; drain it first, or the read can
    # come before the last run's logs arrive (seen once in CI-like runs).
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])),
                                limit=200)
    return [log.message for log in logs]


def test_no_member_data_in_artifacts_or_logs(plan, runs):
    import pyarrow.parquet as pq

    ids = pq.read_table(plan / "outputs" / SECOND / "scores.parquet", columns=["person_id", "member_id"])
    some = {str(i) for i in ids.column("person_id").to_pylist() + ids.column("member_id").to_pylist() if i}
    for name in ("first", "second", "rerun"):
        state = runs[name][0]
        texts = [a.data if isinstance(a.data, str) else json.dumps(a.data) for a in _artifacts(state).values()]
        logs = _logs(state)
        assert logs  # the runs did log, and the logs reached the API
        for text in texts + logs:
            assert not any(i in text for i in some), text


def test_a_refused_delivery_stops_the_run_with_its_reason(plan, runs):
    """Break the next delivery's eligibility file: the run stops at validate, names the file and rule."""
    landing = plan / "landing" / END
    elig = next(landing.glob("eligibility.*"))
    broken = landing / "eligibility.csv"
    if elig.suffix == ".parquet" or elig.name.endswith(".gz"):
        import pandas as pd

        frame = pd.read_parquet(elig) if elig.suffix == ".parquet" else pd.read_csv(elig, dtype=str, sep=None, engine="python")
        elig.unlink()
        frame.drop(columns=["member_id"]).to_csv(broken, index=False)
    else:
        text = elig.read_text().splitlines()
        text[0] = text[0].replace("member_id", "member_identifier", 1)
        broken.write_text("\n".join(text) + "\n")
    state, result = _run(plan, END)
    assert state.is_failed()
    assert isinstance(result, job.MonthlyRunFailed)
    summary = result.summary
    assert summary.failed_step == "validate"
    assert "refused" in summary.failure and "eligibility" in summary.failure
    assert not (plan / "outputs" / END).exists()
    md = _artifacts(state)[job.artifact_key(END)].data
    assert "failed at **validate**" in md and "eligibility" in md
    assert [s.name for s in summary.steps][-1] == "validate"  # nothing ran after the refusal


def test_a_second_run_of_a_month_in_progress_cannot_publish(plan, runs):
    before = job.tree_digest(plan / "outputs" / SECOND)
    with job.MonthLock(plan, SECOND, owner="the run already going"):
        state, result = _run(plan, SECOND)
    assert state.is_failed()
    assert result.summary.failed_step == "lock"
    assert "another run of 2025-10 is in progress" in result.summary.failure
    assert job.tree_digest(plan / "outputs" / SECOND) == before
    md = _artifacts(state)[job.artifact_key(SECOND)].data
    assert "failed at **lock**" in md


def test_the_cli_runs_the_flow_and_prints_one_screen(plan, runs):
    from typer.testing import CliRunner

    from riskstrat.cli import app

    result = CliRunner().invoke(app, ["monthly", "--workspace", str(plan), "--month", SECOND])
    assert result.exit_code == 0, result.output
    assert f"riskstrat monthly {SECOND}: done" in result.output
    assert len(result.output.splitlines()) < 25
    failed = CliRunner().invoke(app, ["monthly", "--workspace", str(plan), "--month", "2031-01"])
    assert failed.exit_code == 1
    assert "2031-01" in failed.output


def test_the_month_on_spark_publishes_the_same_worklist_and_scores(runs, spark):
    """The second month again, with `riskstrat monthly --engine spark` this time, from where the
    DuckDB runs left the plan: drift checked, every list scored and explained on Spark (no list is
    due to retrain). The month's features come from the feature store, which the engines share:
    a month the store lacks is built on Spark by the store (tests/features/test_spark.py), and
    building it again here took 40 of this test's 56 seconds."""
    from riskstrat.features.spark import SCORING_JOBS
    from riskstrat.features.store import stored_path

    ws = runs["copy"]
    on_duckdb = ws / "duckdb-outputs"
    shutil.move(ws / "outputs" / SECOND, on_duckdb)
    # The file itself, not only its bytes: a rebuild on Spark writes the same table (the parity
    # test), through an atomic replace, so only a new inode or time would show it.
    stored = stored_path(ws, SECOND).stat()
    (job.state_dir(ws) / f"{SECOND}.steps.json").unlink()
    with open(ws / "riskstrat.toml", "a", encoding="utf-8") as toml:  # the settings a plan would give
        toml.write('\n[engine]\nspark_master = "local[2]"\nspark_conf = { "spark.sql.shuffle.partitions" = "2" }\n')
    from typer.testing import CliRunner

    from riskstrat.cli import app

    done = CliRunner().invoke(app, ["monthly", "--workspace", str(ws), "--month", SECOND, "--engine", "spark"])
    assert done.exit_code == 0, done.output
    assert f"riskstrat monthly {SECOND}: done" in done.output
    ran = spark.sparkContext.statusTracker().getJobIdsForGroup
    assert len(ran(SCORING_JOBS)) >= 6  # predict and SHAP of 3 lists
    assert json.loads((ws / "outputs" / SECOND / "run.json").read_text())["settings"]["engine"] == "spark"
    recorded = job.read_steps(ws, SECOND)  # the steps that ran this time (the copy's records were removed)
    assert "score" in recorded and "train" not in recorded
    after = stored_path(ws, SECOND).stat()
    assert (after.st_ino, after.st_mtime_ns) == (stored.st_ino, stored.st_mtime_ns)  # read from the store, not rebuilt
    published = ws / "outputs" / SECOND
    same = ["scores.parquet", "explanations.parquet", "worklist.csv", "worklist.xlsx",
            *(f"worklist_{name}.csv" for name in LISTS)]
    assert [name for name in same if (published / name).read_bytes() != (on_duckdb / name).read_bytes()] == []


def test_file_steps_retry_transient_errors_only(prefect_harness):
    from prefect import flow
    from riskstrat.flows.tasks import io_task

    calls = {"io": 0, "bad": 0}

    def flaky_io() -> str:
        calls["io"] += 1
        if calls["io"] < 3:
            raise OSError(5, "Input/output error")
        return "written"

    def bad_data() -> None:
        calls["bad"] += 1
        raise job.DeliveryRefused("delivery 2025-11 refused: landing/2025-11/eligibility.csv: refused [required_columns]")

    # the back-off is the real one's shape; only the wait is cut for the test
    io = io_task(name="flaky io")(flaky_io).with_options(retry_delay_seconds=0)
    bad = io_task(name="bad data")(bad_data).with_options(retry_delay_seconds=0)

    @flow
    def both() -> str:
        out = io()
        bad()
        return out

    state = both(return_state=True)
    assert state.is_failed()
    assert calls == {"io": 3, "bad": 1}  # two retries for the disk, none for the refusal


def test_the_on_demand_flows_run_each_stage(plan, runs):
    from riskstrat.flows.ingest import ingest
    from riskstrat.flows.score import score
    from riskstrat.flows.train import train

    from riskstrat.model.registry import champion_id

    assert ingest(str(plan), SECOND)["skipped"] == [SECOND]  # already in the lake: nothing changes
    every = ingest(str(plan), return_state=True)  # no month: every delivery not yet in the lake
    assert every.is_completed()
    assert _task_run_names(every) == ["ingest new deliveries", "load settings"]
    trained = train(str(plan), SECOND, model="stronger_together")
    assert list(trained) == ["stronger_together"]
    assert trained["stronger_together"]["model_id"].startswith(f"m-{SECOND}-")
    state = score(str(plan), SECOND, return_state=True)
    assert state.is_completed()
    published = state.result()
    assert f"acute_event {champion_id(plan)}" in published["model_id"]
    assert published["report"].endswith("report.html")
    assert "done" in _artifacts(state)[job.artifact_key(SECOND)].data


def test_a_decline_recorded_in_the_web_worklist_leaves_the_next_months_list(runs):
    """The outreach loop end to end: an outreach worker logs in to the web worklist of the second
    month (a real browser), opens the top child of the general list, records "declined" on a day of
    the next month and logs out; then `riskstrat monthly` runs that next month, which leaves the
    child off the list and counts the attempt in the report."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
    from browser import browser, log_out, login, record_outcome
    from typer.testing import CliRunner

    from riskstrat.app.server import serving
    from riskstrat.cli import app
    from riskstrat.config import load_settings
    from riskstrat.outreach import accounts
    from riskstrat.outreach.db import open_database

    ws, third, password = runs["outreach_copy"], "2025-11", "correct horse battery"
    settings = load_settings(ws)
    accounts.add_user(open_database(ws, settings), "olive", password, "outreach", ["acute_event"])
    worklists = pd.read_parquet(ws / "outputs" / SECOND / "worklists.parquet")
    child = worklists.loc[worklists["worklist"] == "acute_event", "person_id"].iloc[0]
    with serving(ws, settings) as base, browser() as chromium:
        page = chromium.new_page()
        login(page, base, "olive", password)
        page.locator(f'#table a[href="/members/{child}"]').click()
        page.wait_for_url(f"{base}/members/{child}")
        record_outcome(page, "2025-11-05", "declined", "acute_event")
        log_out(page, base)

    done = CliRunner().invoke(app, ["monthly", "--workspace", str(ws), "--month", third])
    assert done.exit_code == 0, done.output
    scores = pd.read_parquet(ws / "outputs" / third / "scores.parquet")
    row = scores[(scores["list"] == "acute_event") & (scores["person_id"] == child)].iloc[0]
    assert row["suppressed"] and not row["flagged"]
    assert row["suppression_reason"] == "declined acute event on 2025-11-05"
    after = pd.read_parquet(ws / "outputs" / third / "worklists.parquet")
    # off the general list; a programme's own list may still call them (they declined the general one)
    assert child not in set(after.loc[after["worklist"] == "acute_event", "person_id"])
    report = (ws / "outputs" / third / "report.html").read_text(encoding="utf-8")
    outreach = report.split("Outreach this month", 1)[1].split("<h2>", 1)[0]
    assert '<td>All children (acute risk)</td><td>declined</td><td class="n">1</td><td class="n">1</td>' in outreach

