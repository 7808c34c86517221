"""report.html: the scoring run on one page, counts and plots only, readable offline.

The page shows all lists together, then a section per list (``templates/list_section.html``:
its counts, flags, score distribution and top reasons from its own model), then the month's
audit with a part per list, the validation summary and the changes since last month.

The page is ``templates/report.html`` filled with HTML-escaped values and inline SVG plots made
with matplotlib's object API (no pyplot state, no CDN). SVG ids use a fixed salt and carry no
date, so the same run gives the same bytes. No member-level data appears here.
"""

from __future__ import annotations

import json
from importlib import resources
from string import Template

import numpy as np
import pandas as pd

from riskstrat.audit.fairness import display_table, fairness_plot_svg, with_interval
from riskstrat.audit.monitoring import monitoring_plot_svg
from riskstrat.audit.month import MonthAudit
from riskstrat.config import Settings
from riskstrat.core.fingerprint import code_fingerprint
from riskstrat.core.html import escape as _esc
from riskstrat.core.html import html_table as _table
from riskstrat.core.plots import figure as new_figure
from riskstrat.core.plots import svg_of
from riskstrat.features import get_feature
from riskstrat.outreach.log import OUTCOMES
from riskstrat.scoring.flags import TIERS
from riskstrat.scoring.month import ListScores, MonthInputs, MonthScores, continuing
from riskstrat.scoring.programs import ProgramRules


def score_plot(scores: pd.DataFrame) -> str:
    """Histogram of calibrated scores (log count), with the lowest flagged score marked."""
    fig = new_figure(figsize=(8, 3.2))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.16, top=0.95)
    ax = fig.add_subplot()
    values = scores["score"].to_numpy(dtype=float)
    ax.hist(values, bins=60, color="#4C78A8", log=True)
    # Plain numbers on the log axis: the default 10^x labels go through mathtext, slow to lay out.
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.yaxis.set_minor_formatter(lambda v, _: "")
    flagged = scores.loc[scores["flagged"], "score"]
    if len(flagged):
        ax.axvline(float(flagged.min()), color="#E45756", linestyle="--", linewidth=1.2, label="worklist cut")
        ax.legend(frameon=False)
    ax.set_xlabel("calibrated probability")
    ax.set_ylabel("children (log scale)")
    ax.spines[["top", "right"]].set_visible(False)
    # Fixed margins, not a tight bounding box: a tight layout draws every figure twice.
    return svg_of(fig)


def shap_plot(summary: pd.DataFrame, top: int = 15) -> str:
    """Horizontal bars of mean |SHAP| for the features that matter most this month."""
    head = summary.head(top).iloc[::-1]
    height = 0.3 * len(head) + 0.8
    fig = new_figure(figsize=(8, height))
    fig.subplots_adjust(left=0.34, right=0.97, bottom=0.55 / height, top=1 - 0.15 / height)
    ax = fig.add_subplot()
    ax.barh(head["feature"], head["mean_abs_shap"], color="#72B7B2")
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.spines[["top", "right"]].set_visible(False)
    return svg_of(fig)


def _changes(scores: pd.DataFrame, prev: pd.DataFrame | None) -> str:
    """One list this month against the same list last month (``prev``: its rows of last month's scores)."""
    if prev is None:
        return '<p class="note">No scores were published for the month before, so every flag counts as new.</p>'
    if prev.empty:
        return '<p class="note">This list was not published the month before, so every flag counts as new.</p>'
    now = scores
    # Object-dtype indexes hash in C; Arrow-backed string lookups are several times slower at 500k.
    now_ids = pd.Index(now["person_id"].to_numpy(dtype=object), dtype=object)
    prev_ids = pd.Index(prev["person_id"].to_numpy(dtype=object), dtype=object)
    was_flagged = prev_ids[prev["flagged"].astype(bool).to_numpy()]
    now_flagged = now["flagged"].to_numpy(dtype=bool)
    now_suppressed = now["suppressed"].to_numpy(dtype=bool)
    at = now_ids.get_indexer(was_flagged)  # where each child flagged last month is now (-1: gone)
    present = at >= 0
    here = np.where(present, at, 0)
    dropped_here = present & ~now_flagged[here]
    prev_flag_n, now_flag_n = len(was_flagged), int(now_flagged.sum())
    continuing = int((present & now_flagged[here]).sum())
    common = int(now_ids.isin(prev_ids).sum())
    rows = [
        ["children scored", int(len(prev)), int(len(now))],
        ["children flagged", prev_flag_n, now_flag_n],
        ["mean calibrated score", f"{prev['score'].mean():.4f}", f"{now['score'].mean():.4f}"],
    ]
    detail = [
        ["flagged both months (continuing)", continuing],
        ["newly flagged", now_flag_n - continuing],
        ["flagged last month, not now: now suppressed (enrolled, declined or unreachable)",
         int((dropped_here & now_suppressed[here]).sum())],
        ["flagged last month, not now: no longer in the list's population", int((~present).sum())],
        ["flagged last month, not now: ranked below this month's cut",
         int((dropped_here & ~now_suppressed[here]).sum())],
        ["children scored both months", common],
        ["children new to the list's population", len(now_ids) - common],
    ]
    return (_table(["", "last month", "this month"], rows, {1, 2})
            + _table(["change", "children"], detail, {1}))


def _population(ls: ListScores) -> str:
    return "every child" if ls.spec.population is None else ls.spec.spec.population.label


def _lists_table(month: MonthScores) -> str:
    """Each list's counts, and the month's over distinct children."""
    def row(name: str, population: str, model_id: str, capacity, c: dict) -> list:
        return [name, population, model_id, capacity, c["scored"], c["suppressed"], c["flagged"], c["flagged_new"],
                c["flagged_continuing"], c["households"]]

    rows = [row(ls.spec.title, _population(ls), ls.model_id, ls.capacity, ls.counts) for ls in month.lists]
    rows.append(row("All lists (each child once)", "", "", "", month.counts))
    return _table(["list", "population", "model", "capacity", "children scored", "suppressed", "flagged", "new",
                   "continuing", "households"], rows, {3, 4, 5, 6, 7, 8, 9})


def _list_section(ls: ListScores, programs: ProgramRules, settings: Settings) -> str:
    """One list's counts, flags by tier, programmes, suppression, score distribution and top reasons."""
    scores, counts, sc = ls.scores, ls.counts, settings.scoring
    flagged = scores[scores["flagged"]]
    tier_rows = []
    for name, low in TIERS:
        in_tier = scores["tier"] == name
        f = flagged[flagged["tier"] == name]
        prev = continuing(f)
        tier_rows.append([name, f"top {low:g}%" if low < 100 else "the rest", int(in_tier.sum()),
                          int(scores.loc[in_tier, "suppressed"].sum()), int(len(f)), int((~prev).sum()), int(prev.sum())])
    sup_rows = [[k.replace("_", " "), v] for k, v in counts["suppressed_by_reason"].items()] or [["none", 0]]
    flag_rule = (f"The {ls.capacity:,} best-ranked children of the list's population who are not suppressed are "
                 "flagged; suppressed children do not use capacity.")
    if sc.threshold is not None:
        flag_rule += f" Every other child not suppressed with a probability of at least {sc.threshold:g} is flagged too."
    flag_rule += (f" {counts['flagged_by_capacity']:,} flagged by capacity, {counts['flagged_by_threshold']:,} by "
                  "threshold. Siblings are listed together on the worklist.")
    if ls.spec.population is None:
        flag_rule += " Suppressed: a suppressing status in any programme."
    else:
        flag_rule += (f" Suppressed: a suppressing status in {ls.spec.name.replace('_', ' ')}, or enrolled in another "
                      "programme (the child already has a coordinator).")

    reason_counts: dict[str, int] = {}
    for feats in flagged["reason_features"]:
        for f in feats or []:
            reason_counts[f] = reason_counts.get(f, 0) + 1
    reason_rows = []
    for f, n in sorted(reason_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:15]:
        try:
            desc = get_feature(f).description
        except KeyError:
            desc = ""
        reason_rows.append([f, desc, n])
    design = getattr(ls.model, "design", None)
    outcome = design.describe_label() if hasattr(design, "describe_label") else "the model's outcome"
    values = {
        "name": ls.spec.name, "title": ls.spec.title, "description": " ".join(ls.spec.spec.description.split()),
        "model_id": ls.model_id, "population": _population(ls), "capacity": f"{ls.capacity:,}",
        "scored": f"{counts['scored']:,}", "flagged": f"{counts['flagged']:,}", "households": f"{counts['households']:,}",
        "suppressed": f"{counts['suppressed']:,}", "flag_rule": flag_rule, "outcome": outcome,
        "shap_rows": f"{int(ls.shap_summary['rows'].iloc[0]) if len(ls.shap_summary) else 0:,}",
    }
    fragments = {
        "tier_table": _table(["tier", "position", "children", "suppressed", "flagged", "new", "continuing"],
                             tier_rows, {2, 3, 4, 5, 6}),
        "program_table": _program_table(programs, flagged),
        "suppression_table": _table(["suppressed because", "children"], sup_rows, {1}),
        "score_plot": score_plot(scores), "shap_plot": shap_plot(ls.shap_summary),
        "reasons_table": _table(["feature", "what it measures", "flagged children with it as a top reason"],
                                reason_rows or [["-", "no flagged children", 0]], {2}),
    }
    return _template("list_section.html").substitute({**{k: _esc(v) for k, v in values.items()}, **fragments})


def _program_table(programs: ProgramRules, flagged: pd.DataFrame) -> str:
    ids = flagged["program_ids"].fillna("").str.split(",")
    rows = [[p.label, p.description, int(ids.map(lambda x, i=p.id: i in x).sum())] for p in programs.programs]
    rows.append(["no programme matched", "", int((flagged["program_match"] == "none").sum())])
    return _table(["programme", "rule", "flagged children"], rows, {2})


def _template(name: str) -> Template:
    return Template(resources.files("riskstrat.publish").joinpath(f"templates/{name}").read_text(encoding="utf-8"))


def _per_list(month: MonthScores, fragment) -> str:
    """A fragment for each list under its title."""
    return "".join(f"<h3>{_esc(ls.spec.title)}</h3>{fragment(ls)}" for ls in month.lists)


def _outreach_table(month: MonthScores, counts: pd.DataFrame | None) -> str:
    """Attempts dated in the month per programme and outcome; a programme is named by its list's title."""
    if counts is None or counts.empty:
        return '<p class="note">No outreach attempt is recorded for this month.</p>'
    titles = {ls.spec.name: ls.spec.title for ls in month.lists}
    rows = [[titles.get(p, str(p).replace("_", " ")), OUTCOMES.get(o, (o,))[0], int(a), int(c)]
            for p, o, a, c in counts[["program", "outcome", "attempts", "children"]].itertuples(index=False)]
    return _table(["programme", "outcome", "attempts", "children"], rows, {2, 3})


def render_report(month: MonthScores, inputs: MonthInputs, settings: Settings) -> str:
    """The whole page for one scoring month."""
    counts, sc = month.counts, settings.scoring
    combos = [[k, v] for k, v in sorted(counts["flagged_by_lists"].items(), key=lambda kv: (-kv[1], kv[0]))]
    skipped = "".join(f'<p class="note warn">Not scored this month: {_esc(s.title)}, {_esc(why)}.</p>'
                      for s, why in month.skipped)
    skipped += "".join(f'<p class="note warn">Scored with an outdated model: {_esc(s.title)}, {_esc(why)}.</p>'
                       for s, why in month.outdated)
    skipped += "".join(f'<p class="note warn">Note: {_esc(note)}.</p>' for note in month.notes)
    attrition_rows = [[step, n] for step, n in inputs.attrition] or [["children scored", counts["scored"]]]
    previous = inputs.previous

    def changes(ls: ListScores) -> str:
        prev = None if previous is None else previous[(previous["list"] == ls.spec.name).to_numpy(dtype=bool)]
        return _changes(ls.scores, prev)

    values = {
        "as_of": month.as_of, "threshold": "none" if sc.threshold is None else f"{sc.threshold:g}",
        "suppress_days": sc.suppress_days, "code_version": _code_label(), "scored": f"{counts['scored']:,}",
        "flagged": f"{counts['flagged']:,}", "households": f"{counts['households']:,}",
        "suppressed": f"{counts['suppressed']:,}", "several": f"{counts['flagged_on_several_lists']:,}", "lists": f"{len(month.lists):,}",
        "psi_warn": f"{settings.audit.psi_warn:g}", "psi_alert": f"{settings.audit.psi_alert:g}",
        "in_outreach_days": settings.outreach.in_outreach_days,
    }
    fragments = {
        "attrition_table": _table(["step", "people"], attrition_rows, {1}),
        "lists_table": _lists_table(month), "skipped": skipped,
        "combinations_table": _table(["on lists", "flagged children"], combos or [["-", 0]], {1}),
        "list_sections": "".join(_list_section(ls, month.programs, settings) for ls in month.lists),
        "validation_table": _validation(inputs.deliveries, month.as_of), "changes": _per_list(month, changes),
        "outreach_table": _outreach_table(month, inputs.outreach_counts),
    }
    fragments.update(_audit_fragments(month, settings))
    return _template("report.html").substitute({**{k: _esc(v) for k, v in values.items()}, **fragments})


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in items) + "</ul>"


def _psi(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def _drift_section(drift: pd.DataFrame, notes: list[str], levels: tuple[float, float]) -> str:
    """One row per column: PSI and status against training and against last month, and the bin that moved most.
    ``levels``: ``audit.psi_warn`` and ``audit.psi_alert``, the legend's."""
    parts = [f'<p class="note warn">{_esc(n)}</p>' for n in notes]
    if drift.empty:
        return "".join(parts)
    wide = None
    # A column that moves between its own training months warns and alerts later than the legend's
    # levels; its status says at what levels it was judged, or "stable" at 0.24 would read as wrong.
    if {"warn_at", "alert_at"} <= set(drift):
        raised = ~np.isclose(drift["warn_at"], levels[0]) | ~np.isclose(drift["alert_at"], levels[1])
        drift = drift.assign(status=np.where(raised, drift["status"].astype(str) + " (levels "
                                             + drift["warn_at"].map("{:.2g}".format) + " / "
                                             + drift["alert_at"].map("{:.2g}".format) + ")", drift["status"]))
    for against, part in drift.groupby("against", sort=False):
        part = part.set_index("column")[["psi", "status", "largest_shift"]].add_prefix(f"{against}|")
        wide = part if wide is None else wide.join(part, how="outer")
    order = wide.max(axis=1, numeric_only=True).sort_values(ascending=False, kind="mergesort").index
    headers, rows = ["column"], []
    againsts = list(dict.fromkeys(drift["against"]))
    for against in againsts:
        headers += [f"PSI vs {against}", "status", "largest shift"]
    for column in order:
        row = [column]
        for against in againsts:
            psi = wide.loc[column, f"{against}|psi"]
            row += [_psi(float(psi)), wide.loc[column, f"{against}|status"] if pd.notna(psi) else "–",
                    wide.loc[column, f"{against}|largest_shift"] if pd.notna(psi) else ""]
        rows.append(row)
    numeric = {1 + 3 * i for i in range(len(againsts))}
    return "".join(parts) + _table(headers, rows, numeric)


_NOT_AUDITED = '<p class="note warn">Not computed for this run (scored without the month\'s audit).</p>'


def _audit_fragments(month: MonthScores, settings: Settings) -> dict[str, str]:
    """The drift, fairness and monitoring sections (a part per list), and the warnings box at the top of the page."""
    warnings = [f"{ls.spec.title}: {w}" for ls in month.lists if ls.audit is not None for w in ls.audit.warnings]
    box = ""
    if warnings:
        box = (f'<div class="warnings"><b>Drift warnings ({len(warnings)})</b>'
               + _list(warnings) + '<span class="note">See "Drift" below.</span></div>')
    levels = (settings.audit.psi_warn, settings.audit.psi_alert)
    return {"audit_warnings": box,
            "drift_section": _per_list(month, lambda ls: _audited(ls.audit, lambda a: _drift_section(a.drift, a.notes, levels))),
            "fairness_section": _per_list(month, lambda ls: _audited(ls.audit, _fairness_part)),
            "monitoring_section": _per_list(month, lambda ls: _audited(ls.audit, _monitoring_part))}


def _audited(audit: MonthAudit | None, part) -> str:
    return _NOT_AUDITED if audit is None else part(audit)


def _fairness_part(audit: MonthAudit) -> str:
    if audit.fairness is None:
        return '<p class="note">No eligibility groups for this month.</p>'
    shown = display_table(audit.fairness, outcome=False)
    return (_list(audit.gaps) + f"<figure>{fairness_plot_svg(audit.fairness, ('flag_rate',))}</figure>"
            + _table(list(shown.columns), shown.values.tolist(), {2}))


def _monitoring_part(audit: MonthAudit) -> str:
    if audit.monitoring is None or audit.monitoring.empty:
        return f'<p class="note">No published month has matured yet. {_esc(audit.monitoring_note)}</p>'
    h = audit.monitoring
    rows = [[r.month, int(r.n), int(r.events), f"{r.auroc:.3f}" if np.isfinite(r.auroc) else "–",
             f"{r.ece:.4f}", f"{r.oe_ratio:.2f}", int(r.flagged),
             with_interval(r.ppv, r.ppv_lo, r.ppv_hi),
             with_interval(r.sensitivity, r.sensitivity_lo, r.sensitivity_hi),
             int(r.unmatched)] for r in h.itertuples()]
    return (f'<p class="note">{_esc(audit.monitoring_note)}</p>'
            + _table(["month", "children", "events", "AUROC", "ECE", "observed / expected", "flagged",
                      "PPV of flags", "sensitivity", "unmatched"], rows, {1, 2, 3, 4, 5, 6, 9})
            + f"<figure>{monitoring_plot_svg(h)}</figure>")


def _code_label() -> str:
    """The code version in a few characters: the commit of a source checkout, else the code digest."""
    v = code_fingerprint()
    if v["git_commit"]:
        return f"{v['version']} @ {v['git_commit'][:10]}{' (edited)' if v['git_dirty'] else ''}"
    return f"{v['version']} (code {v['digest'][:10]})"


def _validation(deliveries: pd.DataFrame | None, as_of: str) -> str:
    if deliveries is None or deliveries.empty or "delivery_month" not in deliveries.columns:
        return '<p class="note warn">No ingest ledger found (lake/_deliveries.parquet): this lake was not built by riskstrat ingest.</p>'
    month = deliveries[deliveries["delivery_month"].astype(str) == as_of]
    if month.empty:
        return f'<p class="note warn">No deliveries were ingested for {_esc(as_of)}.</p>'
    rows = []
    for r in month.sort_values("table").to_dict("records"):
        rules = r.get("rule_counts")
        if isinstance(rules, str) and rules.startswith("{"):
            try:
                rules = ", ".join(f"{k}: {v}" for k, v in sorted(json.loads(rules).items()))
            except json.JSONDecodeError:
                pass
        rows.append([
            r.get("table", ""), r.get("file", "") or "", r.get("status", "") or "",
            *(int(r[c]) if c in r and pd.notna(r[c]) else "" for c in ("rows_in", "rows_accepted", "rows_quarantined",
                                                                        "rows_warned")),
            rules if isinstance(rules, str) else "",
            r.get("ignored_columns") or "",
        ])
    # warned rows are accepted, and columns the contract does not name were not read: both are the
    # analyst's to follow up, and the Prefect artifact alone showed the first
    return _table(["table", "file", "status", "rows in", "accepted", "quarantined", "warned", "rules broken (rows)",
                   "columns not read"], rows, {3, 4, 5, 6})
