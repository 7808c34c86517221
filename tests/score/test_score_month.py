"""score_month end to end on a tiny lake with a real registered model: what is published, and how."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scorekit import AS_OF, MALICIOUS, build_workspace

from riskstrat.config import load_settings
from riskstrat.features import build_features
from riskstrat.model.registry import load_model
from riskstrat.publish import outputs as publish
from riskstrat.publish.month import score_month
from riskstrat.scoring.flags import ScoringError


@pytest.fixture(scope="module")
def published(tmp_path_factory, model_workspace):
    ws = build_workspace(tmp_path_factory.mktemp("published") / "ws", model_workspace)
    result = score_month(ws, AS_OF, load_settings(ws))
    return ws, result


def month_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_publishes_exactly_the_files_of_outputs_md(published):
    ws, result = published
    assert result.out_dir == ws / "outputs" / AS_OF
    assert sorted(p.name for p in result.out_dir.iterdir()) == sorted(publish.FILES)
    assert [p.name for p in (ws / "outputs").iterdir()] == [AS_OF]  # no temp folder left behind


def test_scores_cover_every_child_with_suppression_and_flags(published):
    ws, result = published
    scores = pd.read_parquet(result.out_dir / "scores.parquet").set_index("person_id")
    assert sorted(scores.index) == [f"K{i:02d}" for i in range(1, 13)]  # the adult is not scored
    assert scores["rank"].sort_values().tolist() == list(range(1, 13))
    assert scores.loc["K04", "suppressed"] and scores.loc["K04", "suppression_reason"] == "enrolled in cares (since 2025-03-01)"
    assert scores.loc["K05", "suppressed"] and scores.loc["K05", "suppression"] == "declined"
    assert not scores.loc[["K06", "K07"], "suppressed"].any()  # old decline; discharged
    assert not scores.loc[["K04", "K05"], "flagged"].any()
    assert scores["flagged"].sum() == 5
    # the five flagged are the five best-ranked children not suppressed
    open_ = scores[~scores["suppressed"]].sort_values("rank")
    assert set(open_.index[:5]) == set(scores.index[scores["flagged"]])
    assert scores["flagged_last_month"].isna().all()  # nothing was published for 2025-05
    flagged = scores[scores["flagged"]]
    assert flagged["top_reasons"].map(len).gt(0).all()
    assert scores.loc[~scores["flagged"], "top_reasons"].isna().all()
    assert (scores["model_id"] == result.model_id).all()
    assert scores.loc["K01", "program_match"] == "Stronger Together"
    assert "Suicidal ideation recorded in the last 12 months" in scores.loc["K01", "program_reason"]


def test_explanations_add_up_to_the_raw_score_of_each_flagged_child(published, model_workspace):
    ws, result = published
    expl = pd.read_parquet(result.out_dir / "explanations.parquet")
    scores = pd.read_parquet(result.out_dir / "scores.parquet")
    model = load_model(ws)
    assert set(expl["person_id"]) == set(scores.loc[scores["flagged"], "person_id"])
    assert expl.groupby("person_id")["feature"].apply(list).map(lambda f: f == model.feature_names).all()
    features = build_features(ws, AS_OF).set_index("person_id")
    ids = sorted(set(expl["person_id"]))
    raw = pd.Series(model.raw_score(features.loc[ids].reset_index()), index=ids)
    summed = expl.groupby("person_id").apply(lambda g: g["shap_value"].sum() + g["base_value"].iloc[0], include_groups=False)
    np.testing.assert_allclose(summed.loc[ids], raw.loc[ids], atol=1e-6)
    # calibrated score of the file is the model's, on the same features
    proba = pd.Series(model.predict_proba(features.loc[ids].reset_index()), index=ids)
    np.testing.assert_allclose(scores.set_index("person_id").loc[ids, "score"], proba, atol=1e-12)


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_worklist_lists_families_together_best_first(published):
    ws, result = published
    rows = read_csv(result.worklist_csv)
    assert [r["person_id"] for r in rows] == ["K01", "K02", "K03", "K09", "K10"]
    families = [r["household_group"] for r in rows]
    assert families == sorted(families, key=int)  # each family's rows are contiguous
    k01 = rows[0]
    assert k01["new_or_continuing"] == "new"
    assert k01["last_ed_visit"] == "2025-06-12"
    assert k01["phone"] == "555-0100" and k01["birth_date"] == "2014-03-01"
    assert "ED visit" in k01["top_reasons"]
    assert k01["score_band"] in {"very high", "high", "elevated", "standard"}
    assert not {"score", "race", "ethnicity", "gender"} & set(k01)


def test_formula_cells_are_neutralised_in_csv(published):
    ws, result = published
    rows = {r["person_id"]: r for r in read_csv(result.worklist_csv)}
    assert rows["K01"]["first_name"] == "'" + MALICIOUS
    assert rows["K02"]["last_name"] == "'+Smith"
    assert rows["K03"]["last_name"] == "'-Smith"
    for row in rows.values():
        for value in row.values():
            assert not re.match(r"^\s*[=+\-@\t\r]", value), value


def test_formula_cells_are_neutralised_in_xlsx(published):
    ws, result = published
    with zipfile.ZipFile(result.worklist_xlsx) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
        strings = z.read("xl/sharedStrings.xml").decode("utf-8")
    assert "<f>" not in sheet and "<f " not in sheet  # no formula in any cell
    texts = re.findall(r"<t(?: [^>]*)?>(.*?)</t>", strings, flags=re.S)
    assert "'=HYPERLINK(\"http://evil.example/x\",\"click\")" in [t.replace("&quot;", '"') for t in texts]
    assert "'+Smith" in texts and "'-Smith" in texts
    assert not [t for t in texts if re.match(r"^\s*[=+\-@]", t)]


def test_report_is_one_offline_page_without_member_data(published):
    ws, result = published
    page = result.report.read_text(encoding="utf-8")
    assert page.count("<svg") >= 2
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    for secret in ("Smith", "HYPERLINK", "K01", "555-0100"):
        assert secret not in page
    for heading in ("Population", "Flags", "Score distribution", "Top reasons", "Validation summary",
                    "Changes since last month"):
        assert f">{heading}<" in page
    validation = page.split(">Validation summary<")[1].split(">Changes since last month<")[0]
    assert "birth_date_not_a_date: 1" in validation and "eligibility.csv" in validation


def test_run_manifest(published):
    ws, result = published
    run = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["model"]["model_id"] == result.model_id
    parts = run["inputs"]["lake"]["partitions"]
    assert parts[f"lake/eligibility/delivery_month={AS_OF}/part-0.parquet"]["rows"] == 13
    assert run["rows"]["scored"] == 12 and run["rows"]["flagged"] == 5 and run["rows"]["suppressed"] == 2
    assert run["rows"]["feature_rows_in"] == 12
    assert set(run["outputs"]) == set(publish.FILES) - {"run.json"}
    assert {"features", "predict", "explain", "write_report.html"} <= set(run["timings"])
    assert run["code"]["version"]
    assert run["inputs"]["lake"]["deliveries_ledger"]["path"] == "lake/_deliveries.parquet"


def test_same_month_twice_gives_identical_files(published, tmp_path, model_workspace):
    ws, first = published
    before = month_files(first.out_dir)
    again = build_workspace(tmp_path / "again", model_workspace)
    second = score_month(again, AS_OF, load_settings(again))
    after = month_files(second.out_dir)
    assert before.keys() == after.keys()
    for name in before:
        if name == "run.json":
            a, b = json.loads(before[name]), json.loads(after[name])
            a.pop("timings"), b.pop("timings")
            assert a == b
        else:
            assert before[name] == after[name], f"{name} differs between two runs of the same month"
    # and re-publishing in place, from a feature table built beforehand as the monthly job hands
    # over its drift check's, replaces the month with the same bytes
    score_month(again, AS_OF, load_settings(again), features=build_features(again, AS_OF))
    assert {k: v for k, v in month_files(second.out_dir).items() if k != "run.json"} == {
        k: v for k, v in before.items() if k != "run.json"}


def test_a_feature_table_built_for_another_month_is_refused(published):
    ws, _ = published
    table = build_features(ws, AS_OF)
    earlier = f"{int(AS_OF[:4]) - 1}{AS_OF[4:]}"
    with pytest.raises(ScoringError, match=f"built for {AS_OF}, not {earlier}"):
        score_month(ws, earlier, load_settings(ws), features=table)
    table.attrs.clear()  # not from build_features: nothing says which month it describes
    with pytest.raises(ScoringError, match="no month build_features recorded"):
        score_month(ws, AS_OF, load_settings(ws), features=table)
