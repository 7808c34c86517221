"""What outreach staff record comes back into the next month: suppression, "continuing", the report."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
from scorekit import AS_OF

from riskstrat.config import load_settings
from riskstrat.outreach.db import open_database
from riskstrat.outreach.log import record_attempt
from riskstrat.publish.month import score_month


def _flagged(folder, name: str) -> list[str]:
    scores = pd.read_parquet(folder / "scores.parquet")
    part = scores[(scores["list"] == name) & scores["flagged"]]
    return part.sort_values("rank")["person_id"].tolist()


def test_the_outreach_log_shapes_the_next_list(workspace):
    settings = load_settings(workspace)
    first = score_month(workspace, AS_OF, settings).out_dir
    general = _flagged(first, "acute_event")
    declined, enrolled, unreachable, called, corrected = general[:5]
    engine = open_database(workspace, settings)

    def record(person, outcome, day, **kw):
        return record_attempt(engine, person_id=person, program="acute_event", outcome=outcome,
                              attempt_date=date(2025, 6, day), recorded_by="ann", **kw)

    record(declined, "declined", 10)
    record(enrolled, "enrolled", 11)
    record(unreachable, "unable_to_reach", 12)
    record(called, "attempted", 13)
    wrong = record(corrected, "declined", 14)
    record(corrected, "reached", 14, corrects=wrong)  # a correction: the declined row no longer counts

    again = score_month(workspace, AS_OF, settings).out_dir
    scores = pd.read_parquet(again / "scores.parquet")
    general_rows = scores[scores["list"] == "acute_event"].set_index("person_id")
    assert general_rows.loc[declined, "suppression_reason"] == "declined acute event on 2025-06-10"
    assert general_rows.loc[enrolled, "suppression_reason"] == "enrolled in acute event (since 2025-06-11)"
    assert general_rows.loc[unreachable, "suppression"] == "unable_to_reach"
    for person in (declined, enrolled, unreachable):
        assert not general_rows.loc[person, "flagged"]
        assert person not in _flagged(again, "acute_event")
    # an enrolment leaves every list (a coordinator already serves the child); a refusal only its own
    enrolled_rows = scores[scores["person_id"] == enrolled]
    assert enrolled_rows["suppressed"].all()
    for person in (called, corrected):
        assert general_rows.loc[person, "flagged"] and not general_rows.loc[person, "suppressed"]
        assert general_rows.loc[person, "in_outreach"]

    worklists = pd.read_parquet(again / "worklists.parquet")
    combined = worklists[worklists["worklist"] == "all"].set_index("person_id")
    # nobody was flagged last month here (no earlier month): "continuing" comes from the log alone
    assert combined.loc[called, "new_or_continuing"] == "continuing"
    assert combined.loc[corrected, "new_or_continuing"] == "continuing"
    assert combined.loc[corrected, "outreach"] == "reached (acute event) on 2025-06-14"
    others = combined.drop(index=[called, corrected])
    assert (others["new_or_continuing"] == "new").all()

    page = (again / "report.html").read_text(encoding="utf-8")
    assert "Outreach this month" in page
    run = json.loads((again / "run.json").read_text(encoding="utf-8"))
    assert run["counts"]["lists"]["acute_event"]["flagged_continuing"] == 2
    # the report counts attempts by programme and outcome; the corrected row does not count
    section = page.split("Outreach this month", 1)[1].split("<h2>", 1)[0]
    for outcome in ("declined", "enrolled", "unable to reach", "attempted", "reached"):
        row = f'<td>All children (acute risk)</td><td>{outcome}</td><td class="n">1</td><td class="n">1</td>'
        assert row in section, outcome
    assert section.count("<tr>") == 6  # the header and five outcomes
