"""report.html: the scoring run on one page, counts and plots only, readable offline.

The page is ``templates/report.html`` filled with HTML-escaped values and inline SVG plots made
with matplotlib's object API (no pyplot state, no CDN). SVG ids use a fixed salt and carry no
date, so the same run gives the same bytes. No member-level data appears here.
"""

from __future__ import annotations

import html
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
from riskstrat.core.plots import figure as new_figure
from riskstrat.core.plots import svg_of
from riskstrat.features import get_feature
from riskstrat.scoring.flags import TIERS
from riskstrat.scoring.month import MonthInputs, MonthScores


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f'<th class="n">{_esc(h)}</th>' if i in numeric else f"<th>{_esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = f"{v:,}" if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
            cells.append(f'<td class="n">{_esc(text)}</td>' if i in numeric else f"<td>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


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


def _changes(month, inputs) -> str:
    prev = inputs.previous
    if prev is None:
        return '<p class="note">No scores were published for the month before, so every flag counts as new.</p>'
    now = month.scores
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
        ["flagged last month, not now: no longer in the scored population", int((~present).sum())],
        ["flagged last month, not now: ranked below this month's cut",
         int((dropped_here & ~now_suppressed[here]).sum())],
        ["children scored both months", common],
        ["children new to the scored population", len(now_ids) - common],
    ]
    return (_table(["", "last month", "this month"], rows, {1, 2})
            + _table(["change", "children"], detail, {1}))


def render_report(month: MonthScores, inputs: MonthInputs, settings: Settings) -> str:
    """The whole page for one scoring month."""
    scores, counts, sc = month.scores, month.counts, settings.scoring
    flagged = scores[scores["flagged"]]

    tier_rows = []
    for name, low in TIERS:
        in_tier = scores["tier"] == name
        f = flagged[flagged["tier"] == name]
        prev = f["flagged_last_month"].fillna(False).astype(bool)
        tier_rows.append([name, f"top {low:g}%" if low < 100 else "the rest", int(in_tier.sum()),
                          int(scores.loc[in_tier, "suppressed"].sum()), int(len(f)), int((~prev).sum()), int(prev.sum())])
    tier_table = _table(["tier", "position", "children", "suppressed", "flagged", "new", "continuing"],
                        tier_rows, {2, 3, 4, 5, 6})
    prog_rows = [[p.label, p.description, int(flagged["program_ids"].fillna("").str.split(",").map(lambda x, i=p.id: i in x).sum())]
                 for p in month.programs.programs]
    prog_rows.append(["no programme matched", "", int((flagged["program_match"] == "none").sum())])
    program_table = _table(["programme", "rule", "flagged children"], prog_rows, {2})
    sup_rows = [[k.replace("_", " "), v] for k, v in counts["suppressed_by_reason"].items()] or [["none", 0]]
    suppression_table = _table(["suppressed because", "children"], sup_rows, {1})

    flag_rule = (f"The {sc.capacity:,} best-ranked children who are not suppressed are flagged; suppressed children do "
                 "not use capacity.")
    if sc.threshold is not None:
        flag_rule += f" Every other child not suppressed with a probability of at least {sc.threshold:g} is flagged too."
    flag_rule += (f" {counts['flagged_by_capacity']:,} flagged by capacity, {counts['flagged_by_threshold']:,} by threshold. "
                  "Siblings are listed together on the worklist.")

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
    reasons_table = _table(["feature", "what it measures", "flagged children with it as a top reason"],
                           reason_rows or [["-", "no flagged children", 0]], {2})

    validation_table = _validation(inputs.deliveries, month.as_of)
    attrition_rows = [[step, n] for step, n in inputs.attrition] or [["children scored", counts["scored"]]]
    design = getattr(inputs.model, "design", None)
    outcome = design.describe_label() if hasattr(design, "describe_label") else "the model's outcome"
    code = _code_label()

    values = {
        "as_of": month.as_of, "model_id": month.model_id, "capacity": f"{sc.capacity:,}",
        "threshold": "none" if sc.threshold is None else f"{sc.threshold:g}", "suppress_days": sc.suppress_days,
        "code_version": code, "scored": f"{counts['scored']:,}", "flagged": f"{counts['flagged']:,}",
        "households": f"{counts['households']:,}", "suppressed": f"{counts['suppressed']:,}",
        "flag_rule": flag_rule, "outcome": outcome,
        "shap_rows": f"{int(month.shap_summary['rows'].iloc[0]) if len(month.shap_summary) else 0:,}",
    }
    fragments = {
        "attrition_table": _table(["step", "people"], attrition_rows, {1}),
        "tier_table": tier_table, "program_table": program_table, "suppression_table": suppression_table,
        "score_plot": score_plot(scores), "shap_plot": shap_plot(month.shap_summary),
        "reasons_table": reasons_table, "validation_table": validation_table, "changes": _changes(month, inputs),
    }
    values.update({"psi_warn": f"{settings.audit.psi_warn:g}", "psi_alert": f"{settings.audit.psi_alert:g}"})
    fragments.update(_audit_fragments(getattr(month, "audit", None)))
    template = Template(resources.files("riskstrat.publish").joinpath("templates/report.html").read_text(encoding="utf-8"))
    return template.substitute({**{k: _esc(v) for k, v in values.items()}, **fragments})


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in items) + "</ul>"


def _psi(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def _drift_section(drift: pd.DataFrame, notes: list[str]) -> str:
    """One row per column: PSI and status against training and against last month, and the bin that moved most."""
    parts = [f'<p class="note warn">{_esc(n)}</p>' for n in notes]
    if drift.empty:
        return "".join(parts)
    wide = None
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


def _audit_fragments(audit: MonthAudit | None) -> dict[str, str]:
    """The drift, fairness and monitoring sections, and the warnings box at the top of the page."""
    if audit is None:
        missing = '<p class="note warn">Not computed for this run (scored without the month\'s audit).</p>'
        return {"audit_warnings": "", "drift_section": missing, "fairness_section": missing, "monitoring_section": missing}
    warnings = ""
    if audit.warnings:
        warnings = (f'<div class="warnings"><b>Drift warnings ({len(audit.warnings)})</b>'
                    + _list(audit.warnings) + '<span class="note">See "Drift" below.</span></div>')
    fairness = '<p class="note">No eligibility groups for this month.</p>'
    if audit.fairness is not None:
        shown = display_table(audit.fairness, outcome=False)
        fairness = (_list(audit.gaps) + f"<figure>{fairness_plot_svg(audit.fairness, ('flag_rate',))}</figure>"
                    + _table(list(shown.columns), shown.values.tolist(), {2}))
    if audit.monitoring is None or audit.monitoring.empty:
        monitoring = f'<p class="note">No published month has matured yet. {_esc(audit.monitoring_note)}</p>'
    else:
        h = audit.monitoring
        rows = [[r.month, int(r.n), int(r.events), f"{r.auroc:.3f}" if np.isfinite(r.auroc) else "–",
                 f"{r.ece:.4f}", f"{r.oe_ratio:.2f}", int(r.flagged),
                 with_interval(r.ppv, r.ppv_lo, r.ppv_hi),
                 with_interval(r.sensitivity, r.sensitivity_lo, r.sensitivity_hi),
                 int(r.unmatched)] for r in h.itertuples()]
        monitoring = (f'<p class="note">{_esc(audit.monitoring_note)}</p>'
                      + _table(["month", "children", "events", "AUROC", "ECE", "observed / expected", "flagged",
                                "PPV of flags", "sensitivity", "unmatched"], rows, {1, 2, 3, 4, 5, 6, 9})
                      + f"<figure>{monitoring_plot_svg(h)}</figure>")
    return {"audit_warnings": warnings, "drift_section": _drift_section(audit.drift, audit.notes),
            "fairness_section": fairness, "monitoring_section": monitoring}


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
            *(int(r[c]) if c in r and pd.notna(r[c]) else "" for c in ("rows_in", "rows_accepted", "rows_quarantined")),
            rules if isinstance(rules, str) else "",
        ])
    return _table(["table", "file", "status", "rows in", "accepted", "quarantined", "rules broken"], rows, {3, 4, 5})
