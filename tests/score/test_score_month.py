"""score_month end to end on a tiny lake with real registered models, one per list: what is published, and how."""

from __future__ import annotations

import csv
import itertools
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scorekit import AS_OF, CAPACITIES, MALICIOUS, build_workspace, lake_rows

from riskstrat.config import load_settings
from riskstrat.core.months import month_end
from riskstrat.features import build_features
from riskstrat.model.registry import CHAMPION, champions, load_model
from riskstrat.model.specs import load_specs
from riskstrat.publish import outputs as publish
from riskstrat.publish.month import score_month
from riskstrat.publish.worklist_files import sheet_names
from riskstrat.scoring.flags import ScoringError
from riskstrat.scoring.suppression import status_words
from riskstrat.scoring.worklist import WORKLIST_COLUMNS

LISTS = ["acute_event", "cares", "stronger_together"]  # the specifications' file order
TITLES = {"acute_event": "All children (acute risk)", "cares": "CARES", "stronger_together": "Stronger Together"}
ENROLLED_IN_CARES = "enrolled in cares (since 2025-03-01)"


@pytest.fixture(scope="module")
def published(tmp_path_factory, model_workspace):
    ws = build_workspace(tmp_path_factory.mktemp("published") / "ws", model_workspace)
    result = score_month(ws, AS_OF, load_settings(ws))
    return ws, result


def month_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def per_list(result) -> dict[str, pd.DataFrame]:
    scores = pd.read_parquet(result.out_dir / "scores.parquet")
    return {name: part.set_index("person_id") for name, part in scores.groupby("list", sort=False)}


def worklists(result) -> dict[str, list[dict]]:
    """Each list's worklist CSV by specification name."""
    return {name: read_csv(result.out_dir / publish.list_worklist_file(name)) for name in result.model_ids}


def test_publishes_exactly_the_files_of_outputs_md(published):
    ws, result = published
    assert result.out_dir == ws / "outputs" / AS_OF
    assert sorted(p.name for p in result.out_dir.iterdir()) == sorted(publish.month_files(LISTS))
    assert {"worklist_cares.csv", "worklist_stronger_together.csv", "worklist_acute_event.csv"} <= set(
        publish.month_files(LISTS))
    assert [p.name for p in (ws / "outputs").iterdir()] == [AS_OF]  # no temp folder left behind


def test_each_list_ranks_the_children_its_population_admits_with_its_own_model(published):
    ws, result = published
    assert result.model_ids == champions(ws) and list(result.model_ids) == LISTS
    scores = pd.read_parquet(result.out_dir / "scores.parquet")
    assert list(dict.fromkeys(scores["list"])) == LISTS
    lists = per_list(result)
    assert sorted(lists["acute_event"].index) == [f"K{i:02d}" for i in range(1, 13)]  # the adult is not scored
    assert sorted(lists["cares"].index) == ["K01", "K04", "K05"]
    assert sorted(lists["stronger_together"].index) == ["K01", "K02", "K04", "K05"]
    features = build_features(ws, AS_OF)
    for spec in load_specs(ws, load_settings(ws)):
        if spec.population is not None:
            assert set(features.loc[spec.population.test(features), "person_id"]) == set(lists[spec.name].index)
    indexed = features.set_index("person_id")
    for name, part in lists.items():
        assert (part["list_title"] == TITLES[name]).all() and (part["model_id"] == result.model_ids[name]).all()
        assert part["rank"].tolist() == list(range(1, len(part) + 1))
        # flagged: the list's capacity of its best-ranked children not suppressed
        open_ = part[~part["suppressed"]].sort_values("rank")
        assert set(open_.index[:CAPACITIES[name]]) == set(part.index[part["flagged"]])
        assert part["flagged"].sum() == min(CAPACITIES[name], len(open_))
        assert part["flagged_last_month"].isna().all()  # nothing was published for 2025-05
        assert part.loc[part["flagged"], "top_reasons"].map(len).gt(0).all()
        assert part.loc[~part["flagged"], "top_reasons"].isna().all()
        model = load_model(ws, result.model_ids[name])
        proba = model.predict_proba(indexed.loc[part.index].reset_index())
        np.testing.assert_allclose(part["score"], proba, atol=1e-12)
    assert lists["cares"].loc["K01", "score"] != lists["acute_event"].loc["K01", "score"]
    assert lists["acute_event"].loc["K01", "program_match"] == "CARES + Stronger Together"
    assert "Suicidal ideation recorded in the last 12 months" in lists["stronger_together"].loc["K01", "program_reason"]


def test_suppression_is_decided_per_list(published):
    _, result = published
    lists = per_list(result)
    for name in LISTS:  # enrolled in CARES: a coordinator already, so off every list, saying why
        k04 = lists[name].loc["K04"]
        assert k04["suppressed"] and not k04["flagged"] and k04["suppression_reason"] == ENROLLED_IN_CARES
    declined = lists["stronger_together"].loc["K05"]
    assert declined["suppressed"] and declined["suppression_reason"] == "declined stronger together on 2025-05-20"
    assert lists["acute_event"].loc["K05", "suppressed"]  # the general list counts every programme
    assert not lists["cares"].loc["K05", "suppressed"] and lists["cares"].loc["K05", "flagged"]
    assert not lists["acute_event"].loc[["K06", "K07"], "suppressed"].any()  # old decline; discharged


def test_explanations_come_from_each_lists_own_model(published):
    ws, result = published
    expl = pd.read_parquet(result.out_dir / "explanations.parquet")
    assert list(dict.fromkeys(expl["list"])) == LISTS
    features = build_features(ws, AS_OF).set_index("person_id")
    for name, part in per_list(result).items():
        own = expl[expl["list"] == name]
        assert set(own["person_id"]) == set(part.index[part["flagged"]])
        model = load_model(ws, result.model_ids[name])
        assert own.groupby("person_id")["feature"].apply(list).map(lambda f, m=model: f == m.feature_names).all()
        ids = sorted(set(own["person_id"]))
        raw = pd.Series(model.raw_score(features.loc[ids].reset_index()), index=ids)
        summed = own.groupby("person_id").apply(lambda g: g["shap_value"].sum() + g["base_value"].iloc[0],
                                                include_groups=False)
        np.testing.assert_allclose(summed.loc[ids], raw.loc[ids], atol=1e-6)


def best_places(lists: dict[str, list[dict]]) -> dict[str, tuple[int, int, str]]:
    """Each child's best (position, list order, person_id) over the lists' worklists."""
    best: dict[str, tuple[int, int, str]] = {}
    for k, name in enumerate(LISTS):
        for r in lists.get(name, []):
            key = (int(r["position"]), k, r["person_id"])
            best[r["person_id"]] = min(best.get(r["person_id"], key), key)
    return best


def test_the_combined_worklist_names_each_child_once_with_every_list(published):
    _, result = published
    combined, lists = read_csv(result.worklist_csv), worklists(result)
    ids = [r["person_id"] for r in combined]
    on = {name: {r["person_id"] for r in rows} for name, rows in lists.items()}
    assert len(ids) == len(set(ids)) and set(ids) == set().union(*on.values())
    rows = {r["person_id"]: r for r in combined}
    for p, r in rows.items():
        assert r["lists"] == " + ".join(TITLES[n] for n in LISTS if p in on[n])
    assert rows["K01"]["lists"] == "All children (acute risk) + CARES + Stronger Together"
    assert rows["K05"]["lists"] == "CARES"  # kept off the other two lists, still called for CARES
    assert rows["K05"]["other_children_in_household"] == "1"  # K04 is scored, on no list
    # each row is the list where the child placed best; families follow their best-placed child
    best = best_places(lists)
    for p, r in rows.items():
        name = LISTS[best[p][1]]
        own = next(x for x in lists[name] if x["person_id"] == p)
        assert (r["list"], r["rank"], r["top_reasons"], r["program_reason"], r["score_band"]) == (
            TITLES[name], own["rank"], own["top_reasons"], own["program_reason"], own["score_band"])
    family = {p: rows[p]["household_id"] or f"person:{p}" for p in ids}
    family_best = {f: min(best[p] for p in ids if family[p] == f) for f in set(family.values())}
    assert ids == sorted(ids, key=lambda p: (family_best[family[p]], best[p]))
    assert [int(r["position"]) for r in combined] == list(range(1, len(combined) + 1))
    assert all(r["new_or_continuing"] == "new" for r in combined)


def test_siblings_are_listed_together_on_every_list(published):
    _, result = published
    for rows in [read_csv(result.worklist_csv), *worklists(result).values()]:
        groups = [int(r["household_group"]) for r in rows]
        assert groups == sorted(groups) and (not groups or set(groups) == set(range(1, max(groups) + 1)))
        families = [r["household_id"] or r["person_id"] for r in rows]
        runs = [f for f, _ in itertools.groupby(families)]
        assert len(runs) == len(set(runs))  # each family's rows are contiguous
    lists = worklists(result)
    st = lists["stronger_together"]
    assert [r["person_id"] for r in st] == ["K01", "K02"] and st[0]["household_group"] == st[1]["household_group"]
    # K03, their sister, is outside Stronger Together's population but still a child of the family in the plan
    assert [r["other_children_in_household"] for r in st] == ["1", "1"]
    general = [r["person_id"] for r in lists["acute_event"]]
    assert general[:3] == ["K01", "K02", "K03"]  # H1's three children follow K01, the list's best
    cares = {r["person_id"]: r for r in lists["cares"]}
    assert cares["K05"]["other_children_in_household"] == "1"  # K04: in the CARES population, not listed


def test_the_worklist_shows_what_care_management_knows_of_a_listed_child(published):
    """A CARES coordinator calling K05 sees that K05 declined Stronger Together last month; a decline
    older than scoring.suppress_days, or nothing at all, shows nothing."""
    ws, result = published
    cares = {r["person_id"]: r for r in worklists(result)["cares"]}
    assert cares["K05"]["outreach"] == "declined stronger together on 2025-05-20"
    combined = {r["person_id"]: r for r in read_csv(result.worklist_csv)}
    assert combined["K05"]["outreach"] == "declined stronger together on 2025-05-20"
    assert {"K01", "K02"} <= set(combined) and not combined["K01"]["outreach"] and not combined["K02"]["outreach"]
    words = status_words(pd.DataFrame(lake_rows()["care_management"]), month_end(AS_OF),
                         load_settings(ws).scoring.suppress_days)
    assert words == {"K04": "enrolled in cares (since 2025-03-01)", "K05": "declined stronger together on 2025-05-20",
                     "K07": "discharged from cares on 2025-02-01"}  # K06's decline of 2024-06-01 is a year old


def test_worklist_columns_for_the_outreach_team(published):
    _, result = published
    k01 = next(r for r in read_csv(result.worklist_csv) if r["person_id"] == "K01")
    assert k01["new_or_continuing"] == "new"
    assert k01["last_ed_visit"] == "2025-06-12"
    assert k01["phone"] == "555-0100" and k01["birth_date"] == "2014-03-01"
    assert "ED visit" in k01["top_reasons"]
    assert k01["score_band"] in {"very high", "high", "elevated", "standard"}
    assert not {"score", "race", "ethnicity", "gender"} & set(k01)
    assert list(k01) == WORKLIST_COLUMNS


def test_formula_cells_are_neutralised_in_every_csv(published):
    _, result = published
    for path in [result.worklist_csv, *(result.out_dir / publish.list_worklist_file(n) for n in LISTS)]:
        rows = {r["person_id"]: r for r in read_csv(path)}
        if "K01" in rows:
            assert rows["K01"]["first_name"] == "'" + MALICIOUS
        if "K02" in rows:
            assert rows["K02"]["last_name"] == "'+Smith"
        for row in rows.values():
            for value in row.values():
                assert not re.match(r"^\s*[=+\-@\t\r]", value), (path.name, value)


def test_the_workbook_has_all_lists_first_then_a_sheet_per_list(published):
    _, result = published
    with zipfile.ZipFile(result.worklist_xlsx) as z:
        workbook = z.read("xl/workbook.xml").decode("utf-8")
        sheets = [z.read(f"xl/worksheets/sheet{i}.xml").decode("utf-8") for i in range(1, len(LISTS) + 2)]
        strings = z.read("xl/sharedStrings.xml").decode("utf-8")
    assert re.findall(r'<sheet name="([^"]+)"', workbook) == ["All lists", *(TITLES[n] for n in LISTS)]
    csvs = [result.worklist_csv, *(result.out_dir / publish.list_worklist_file(n) for n in LISTS)]
    for sheet, path in zip(sheets, csvs, strict=True):
        assert len(re.findall(r"<row ", sheet)) == 1 + len(read_csv(path))
        assert "<f>" not in sheet and "<f " not in sheet  # no formula in any cell
    texts = [t.replace("&quot;", '"') for t in re.findall(r"<t(?: [^>]*)?>(.*?)</t>", strings, flags=re.S)]
    assert "'=HYPERLINK(\"http://evil.example/x\",\"click\")" in texts
    assert "'+Smith" in texts and "'-Smith" in texts
    assert not [t for t in texts if re.match(r"^\s*[=+\-@]", t)]


def test_report_has_a_section_per_list_and_no_member_data(published):
    _, result = published
    page = result.report.read_text(encoding="utf-8")
    assert page.count("<svg") >= 2 * len(LISTS)
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    for secret in ("Smith", "HYPERLINK", "K01", "555-0100"):
        assert secret not in page
    for heading in ("Population", "All lists", "Flags", "Score distribution", "Top reasons", "Drift",
                    "Fairness of this month's flags", "Realised performance of past months", "Validation summary",
                    "Changes since last month", *TITLES.values()):
        assert f">{heading}<" in page, heading
    for name in LISTS:
        section = page.split(f'<h2 id="list-{name}">')[1].split("<h2")[0]
        assert f"<code>{result.model_ids[name]}</code>" in section and "<svg" in section
    drift = page.split("<h2>Drift</h2>")[1].split("<h2>")[0]
    assert all(f"<h3>{TITLES[n]}</h3>" in drift for n in LISTS)
    validation = page.split(">Validation summary<")[1].split(">Changes since last month<")[0]
    assert "birth_date_not_a_date: 1" in validation and "eligibility.csv" in validation
    assert ">warned</th>" in validation and "<th>columns not read</th>" in validation


def test_run_manifest(published):
    ws, result = published
    run = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["models"] == result.model_ids and run["skipped_lists"] == {}
    assert {n: run["lists"][n]["capacity"] for n in LISTS} == CAPACITIES
    assert run["lists"]["cares"]["population"] == "CARES" and run["lists"]["acute_event"]["population"] == "every child"
    assert run["lists"]["cares"]["model"]["path"] == f"models/{result.model_ids['cares']}"
    parts = run["inputs"]["lake"]["partitions"]
    assert parts[f"lake/eligibility/delivery_month={AS_OF}/part-0.parquet"]["rows"] == 13
    assert set(run["inputs"]["specifications"]) == set(LISTS)
    scores = pd.read_parquet(result.out_dir / "scores.parquet")
    combined = read_csv(result.worklist_csv)
    assert run["rows"]["scored"] == 12 and run["rows"]["score_rows"] == len(scores) == 12 + 3 + 4
    assert run["rows"]["flagged"] == run["counts"]["flagged"] == len(combined)
    assert run["rows"]["feature_rows_in"] == 12
    for name in LISTS:
        own = scores[scores["list"] == name]
        assert run["counts"]["lists"][name]["flagged"] == int(own["flagged"].sum())
        assert run["counts"]["lists"][name]["scored"] == len(own)
    assert run["counts"]["suppressed"] == 2  # K04 and K05, each counted once
    assert sum(run["counts"]["flagged_by_lists"].values()) == len(combined)
    assert set(run["outputs"]) == set(publish.month_files(LISTS)) - {"run.json"}
    assert set(run["audit"]["lists"]) == set(LISTS)
    assert all(run["audit"]["lists"][n]["psi"]["training"] for n in LISTS)
    assert all(w.split(": ")[0] in TITLES.values() for w in run["audit"]["warnings"])
    assert {"features", "predict", "explain", "write_report.html", "audit_cares"} <= set(run["timings"])
    assert run["code"]["version"]
    assert run["inputs"]["lake"]["deliveries_ledger"]["path"] == "lake/_deliveries.parquet"


def test_summary_lines_say_each_list_without_member_data(published):
    _, result = published
    lines = result.summary_lines()
    assert len([line for line in lines if "(model m-" in line]) == len(LISTS)
    assert any(line.startswith("CARES (model ") for line in lines)
    assert not any(secret in line for line in lines for secret in ("K0", "Smith"))
    assert all(result.model_ids[n] in result.model_id for n in LISTS)


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


def test_a_list_without_a_champion_is_skipped_until_a_model_is_named(tmp_path, model_workspace):
    ws = build_workspace(tmp_path / "ws", model_workspace)
    pointer = ws / "models" / CHAMPION
    entries = json.loads(pointer.read_text(encoding="utf-8"))
    cares_model = entries.pop("cares")["model_id"]
    pointer.write_text(json.dumps(entries), encoding="utf-8")

    result = score_month(ws, AS_OF, load_settings(ws))
    assert list(result.model_ids) == ["acute_event", "stronger_together"] and list(result.skipped) == ["CARES"]
    assert sorted(p.name for p in result.out_dir.iterdir()) == sorted(
        publish.month_files(["acute_event", "stronger_together"]))
    run = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["skipped_lists"] == {"cares": {"title": "CARES", "why": "no champion in the registry yet (riskstrat train)"}}
    assert "Not scored: CARES, no champion in the registry yet (riskstrat train)." in result.summary_lines()
    assert "Not scored this month: CARES, no champion in the registry yet" in result.report.read_text(encoding="utf-8")
    assert "K05" not in {r["person_id"] for r in read_csv(result.worklist_csv)}  # only CARES would call K05

    named = score_month(ws, AS_OF, load_settings(ws), model_id=cares_model)
    assert named.model_ids["cares"] == cares_model and named.skipped == {}
    assert "K05" in {r["person_id"] for r in read_csv(named.worklist_csv)}


def test_a_list_whose_file_changed_since_its_model_learned_says_so(tmp_path, model_workspace):
    ws = build_workspace(tmp_path / "ws", model_workspace)
    spec = ws / "specs" / "cares.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("outcome: cares_acute", "outcome: ip_admit"),
                    encoding="utf-8")
    result = score_month(ws, AS_OF, load_settings(ws))
    why = (f"its model {result.model_ids['cares']} learned before cares.yaml changed (outcome); "
           "`riskstrat train --model cares` retrains it")
    assert f"Scored with an outdated model: CARES, {why}." in result.summary_lines()
    run = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["outdated_lists"] == {"cares": {"title": "CARES", "why": why}}
    assert "Scored with an outdated model: CARES" in result.report.read_text(encoding="utf-8")
    assert not any("outdated" in line for line in score_month(build_workspace(tmp_path / "same", model_workspace),
                                                              AS_OF, load_settings(ws)).summary_lines())


def test_a_dropped_specification_is_no_list_and_its_model_is_refused(tmp_path, model_workspace):
    ws = build_workspace(tmp_path / "ws", model_workspace)
    (ws / "specs" / "stronger_together.yaml").unlink()
    result = score_month(ws, AS_OF, load_settings(ws))
    assert list(result.model_ids) == ["acute_event", "cares"] and result.skipped == {}
    assert set(pd.read_parquet(result.out_dir / "scores.parquet")["list"]) == {"acute_event", "cares"}
    stray = champions(ws)["stronger_together"]
    with pytest.raises(ScoringError, match="trained for the specification 'stronger_together'"):
        score_month(ws, AS_OF, load_settings(ws), model_id=stray)


def test_sheet_names_follow_excels_rules():
    titles = ["All lists", "Asthma: home/visits [pilot]?", "'Quoted'", "A" * 40, "a" * 40, "all LISTS", "History", ""]
    names = sheet_names(titles)
    assert names[:3] == ["All lists", "Asthma- home-visits -pilot--", "Quoted"]
    assert names[3] == "A" * 31 and names[4] == "a" * 27 + " (2)"  # Excel compares names regardless of case
    assert names[5] == "all LISTS (2)" and names[6] == "History (2)" and names[7] == "list"
    assert all(len(n) <= 31 and not re.search(r"[\[\]:*?/\\]", n) for n in names)
    assert len({n.casefold() for n in names}) == len(names)


def test_a_list_whose_population_is_empty_this_month_is_skipped(tmp_path, model_workspace):
    ws = build_workspace(tmp_path / "ws", model_workspace)
    path = ws / "specs" / "cares.yaml"
    rule = '{feature: pmca_class, op: ">=", value: 2}'
    assert rule in path.read_text(encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace(rule, rule.replace("2}", "3}")), encoding="utf-8")
    result = score_month(ws, AS_OF, load_settings(ws))
    assert list(result.model_ids) == ["acute_event", "stronger_together"]
    assert result.skipped == {"CARES": "its population rule admits no child this month"}
    run = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["skipped_lists"]["cares"]["why"] == result.skipped["CARES"] and "cares" not in run["models"]


def test_a_list_whose_capacity_flags_every_child_it_may_call_says_so(published):
    _, result = published
    run = json.loads((result.out_dir / "run.json").read_text(encoding="utf-8"))
    assert [n for n in run["notes"] if "capacity" in n] == [
        "CARES: its capacity (2) is at least the 2 children its population admits and nothing keeps off, so every "
        "one of them is flagged",
        "Stronger Together: its capacity (2) is at least the 2 children its population admits and nothing keeps "
        "off, so every one of them is flagged"]  # the general list ranks 5 of its children out of more
    assert f"Note: {run['notes'][-1]}." in result.summary_lines()
