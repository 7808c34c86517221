"""Publishing a month: atomic on failure, new vs continuing next month, and the score command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from scorekit import AS_OF, lake_rows, write_lake_table

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


def test_next_month_says_who_is_continuing(workspace):
    first = score_month(workspace, AS_OF, load_settings(workspace))
    june = pd.read_parquet(first.out_dir / "scores.parquet")
    rows = lake_rows()
    write_lake_table(workspace, "eligibility", "2025-07", rows["eligibility"])
    write_lake_table(workspace, "care_management", "2025-07", rows["care_management"] + [
        {"person_id": "K01", "program": "stronger_together", "status": "enrolled", "status_date": "2025-07-03"}])
    july = score_month(workspace, "2025-07", load_settings(workspace))
    scores = pd.read_parquet(july.out_dir / "scores.parquet").set_index("person_id")
    was = set(june.loc[june["flagged"], "person_id"])
    assert scores["flagged_last_month"].to_dict() == {p: p in was for p in scores.index}
    assert scores.loc["K01", "suppressed"] and not scores.loc["K01", "flagged"]  # enrolled since: off the list
    wl = {r["person_id"]: r["new_or_continuing"] for r in read_csv(july.worklist_csv)}
    assert all(v == ("continuing" if p in was else "new") for p, v in wl.items())
    assert "continuing" in wl.values()
    page = july.report.read_text(encoding="utf-8")
    assert "now suppressed (enrolled, declined or unreachable)" in page
    run = json.loads((july.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["inputs"]["previous_scores"]["path"] == f"outputs/{AS_OF}/scores.parquet"


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
    assert "champion" in out.output
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
