"""Publishing a month: atomic on failure, new vs continuing next month, and the score command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scorekit import AS_OF, CYSTIC_FIBROSIS, ed_visit, lake_rows, write_lake_table

from riskstrat.config import load_settings
from riskstrat.publish import outputs as publish
from riskstrat.publish.month import score_month


def month_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_failed_run_leaves_no_month_folder(workspace, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(publish, "write_worklist_xlsx", broken)
    with pytest.raises(OSError, match="injected"):
        score_month(workspace, AS_OF, load_settings(workspace))
    assert list((workspace / "outputs").iterdir()) == []


def test_a_failed_rerun_keeps_the_published_month(workspace, monkeypatch):
    good = score_month(workspace, AS_OF, load_settings(workspace))
    before = month_files(good.out_dir)

    def broken(*args, **kwargs):
        raise RuntimeError("report failed (injected)")

    monkeypatch.setattr("riskstrat.publish.report.render_report", broken)
    with pytest.raises(RuntimeError, match="injected"):
        score_month(workspace, AS_OF, load_settings(workspace))
    assert month_files(good.out_dir) == before
    assert [p.name for p in (workspace / "outputs").iterdir()] == [AS_OF]


def july_lake(workspace: Path, mover: str) -> None:
    """The July deliveries: the same eligibility; K01 enrolled in Stronger Together; ``mover`` has an
    ED visit for cystic fibrosis, which brings them into the CARES population."""
    rows = lake_rows()
    write_lake_table(workspace, "eligibility", "2025-07", rows["eligibility"])
    write_lake_table(workspace, "care_management", "2025-07", rows["care_management"] + [
        {"person_id": "K01", "program": "stronger_together", "status": "enrolled", "status_date": "2025-07-03"}])
    write_lake_table(workspace, "ed_visit", "2025-07", [ed_visit(100, mover, 7, CYSTIC_FIBROSIS)])


def lists_of(path: Path) -> dict[str, pd.DataFrame]:
    scores = pd.read_parquet(path)
    return {name: part.set_index("person_id") for name, part in scores.groupby("list", sort=False)}


def test_next_month_says_who_is_continuing_on_each_list(workspace):
    first = score_month(workspace, AS_OF, load_settings(workspace))
    june = lists_of(first.out_dir / "scores.parquet")
    general = june["acute_event"]
    movers = [p for p in general.index[general["flagged"]] if p not in june["cares"].index and p != "K01"]
    assert movers, "a child on the general list only, to bring into CARES"
    mover = movers[0]
    july_lake(workspace, mover)
    july = score_month(workspace, "2025-07", load_settings(workspace))
    now = lists_of(july.out_dir / "scores.parquet")
    for name, part in now.items():  # flagged last month means: on the same list last month
        was = set(june[name].index[june[name]["flagged"]])
        assert part["flagged_last_month"].to_dict() == {p: p in was for p in part.index}, name
    cares = now["cares"]
    assert mover in cares.index and cares.loc[mover, "flagged"] and not cares.loc[mover, "flagged_last_month"]
    for name, part in now.items():  # enrolled since: off every list, saying where
        assert part.loc["K01", "suppression_reason"] == "enrolled in stronger together (since 2025-07-03)", name
        assert not part.loc["K01", "flagged"]
    status = {r["person_id"]: r["new_or_continuing"] for r in read_csv(july.out_dir / "worklist_cares.csv")}
    assert status[mover] == "new" and status["K05"] == "continuing"
    before = set().union(*(set(p.index[p["flagged"]]) for p in june.values()))
    combined = {r["person_id"]: r["new_or_continuing"] for r in read_csv(july.worklist_csv)}
    assert combined == {p: "continuing" if p in before else "new" for p in combined}
    assert combined[mover] == "continuing"  # new to CARES, but the team called them last month
    page = july.report.read_text(encoding="utf-8")
    assert "now suppressed (enrolled, declined or unreachable)" in page
    run = json.loads((july.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["inputs"]["previous_scores"]["path"] == f"outputs/{AS_OF}/scores.parquet"
    assert run["counts"]["lists"]["cares"]["flagged_continuing"] == 1


def test_a_month_published_before_there_were_lists_counts_as_the_general_lists(workspace):
    first = score_month(workspace, AS_OF, load_settings(workspace))
    path = first.out_dir / "scores.parquet"
    old = pq.read_table(path)
    old = old.filter(pc.equal(old["list"], "acute_event")).drop_columns(["list", "list_title"])
    pq.write_table(old, path)
    june = set(old.filter(old["flagged"])["person_id"].to_pylist())
    july_lake(workspace, "K03")
    july = lists_of(score_month(workspace, "2025-07", load_settings(workspace)).out_dir / "scores.parquet")
    general = july["acute_event"]["flagged_last_month"]
    assert general.to_dict() == {p: p in june for p in general.index}
    for name in ("cares", "stronger_together"):  # those lists were not published: unknown, not "no"
        assert july[name]["flagged_last_month"].isna().all()


def test_cli_prints_where_the_worklist_and_report_are(workspace):
    from typer.testing import CliRunner

    from riskstrat.cli import app

    out = CliRunner().invoke(app, ["score", "--workspace", str(workspace), "--as-of", AS_OF])
    assert out.exit_code == 0, out.output
    assert "worklist.xlsx" in out.output and "report.html" in out.output
    assert "Smith" not in out.output and "K01" not in out.output
    missing = CliRunner().invoke(app, ["score", "--workspace", str(workspace), "--as-of", AS_OF, "--model", "m-nope"])
    assert missing.exit_code == 1


def test_no_model_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from riskstrat.cli import app

    ws = tmp_path / "empty"
    ws.mkdir()
    out = CliRunner().invoke(app, ["score", "--workspace", str(ws), "--as-of", AS_OF])
    assert out.exit_code == 1
    assert "no champion for any list" in out.output and len(out.output.strip().splitlines()) == 1
    assert not (ws / "outputs" / AS_OF).exists()


def test_a_run_killed_mid_swap_is_recovered_by_the_next(workspace, monkeypatch):
    good = score_month(workspace, AS_OF, load_settings(workspace))
    before = month_files(good.out_dir)
    outputs = workspace / "outputs"
    # What a kill between the two renames of a re-publish leaves: the old month moved aside, a temp folder.
    (outputs / AS_OF).rename(outputs / f".old-{AS_OF}-99999")
    (outputs / f".tmp-{AS_OF}-99999").mkdir()

    def broken(*args, **kwargs):
        raise RuntimeError("report failed (injected)")

    monkeypatch.setattr("riskstrat.publish.report.render_report", broken)
    with pytest.raises(RuntimeError, match="injected"):
        score_month(workspace, AS_OF, load_settings(workspace))
    assert month_files(outputs / AS_OF) == before
    assert [p.name for p in outputs.iterdir()] == [AS_OF]


def test_a_drift_status_judged_at_raised_levels_says_at_which():
    from riskstrat.publish.report import _drift_section

    drift = pd.DataFrame({"against": "training", "column": ["age_years", "ed_visits_trend"], "psi": [0.242, 0.3],
                          "status": ["stable", "moderate"], "largest_shift": ["", ""],
                          "warn_at": [0.47, 0.1], "alert_at": [1.2, 0.25]})
    drift = pd.concat([drift, drift.assign(column=["score", "ip_admits_12m"], psi=[0.01, 0.02],
                                           status="stable", warn_at=0.1, alert_at=0.25)])
    html = _drift_section(drift, [], (0.1, 0.25))
    assert "stable (levels 0.47 / 1.2)" in html and "moderate (levels" not in html
