"""The model card: the 31 HTI-1 source attributes, in order, as Markdown and as one HTML page.

The card is a list of sections keyed by attribute number (``ATTRIBUTES`` is the list of
../shared/spec/hti1-source-attributes.md). Each section holds blocks — text, a table, a figure,
or a statement that a fact is missing. An attribute nobody filled is still printed, with a
"Not available" statement: a heading is never left out. Later stages add content with
``card.add(number, block)`` (for example the fairness tables under 22 and 29) or
``card.add_extra(title, block)`` for the items beside the 31.

Plots are matplotlib SVG, inline in the HTML and written beside card.md, with fixed ids and no
date so the same model renders the same bytes.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

from riskstrat.audit.fairness import ALL, display_table, fairness_plot_svg, need_plot_svg
from riskstrat.audit.training import fairness_frame, need_checks
from riskstrat.core.months import months_apart
from riskstrat.core.plots import figure as new_figure
from riskstrat.core.plots import svg_of
from riskstrat.model.bundle import ModelBundle
from riskstrat.model.labels import declared_outcomes

GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Details and output of the intervention", (1, 2, 3, 4)),
    ("Purpose of the intervention", (5, 6, 7, 8)),
    ("Cautioned out-of-scope use", (9, 10)),
    ("Intervention development details and input features", (11, 12, 13, 14)),
    ("Process used to ensure fairness in development", (15, 16)),
    ("External validation process", (17, 18, 19, 20)),
    ("Quantitative measures of performance", (21, 22, 23, 24, 25)),
    ("Ongoing maintenance of intervention implementation and use", (26, 27, 28, 29)),
    ("Update and continued validation or fairness assessment schedule", (30, 31)),
)

ATTRIBUTES: dict[int, str] = {
    1: "Name and contact information for the intervention developer",
    2: "Funding source of the technical implementation for the intervention(s) development",
    3: "Description of value that the intervention produces as an output",
    4: "Whether the intervention output is a prediction, classification, recommendation, evaluation, analysis, or other type of output",
    5: "Intended use of the intervention",
    6: "Intended patient population(s) for the intervention's use",
    7: "Intended user(s)",
    8: "Intended decision-making role for which the intervention was designed to be used/for (e.g., informs, augments, replaces clinical management)",
    9: "Description of tasks, situations, or populations where a user is cautioned against applying the intervention",
    10: "Known risks, inappropriate settings, inappropriate uses, or known limitations",
    11: "Exclusion and inclusion criteria that influenced the training data set",
    12: "Use of variables in paragraph (b)(11)(iv)(A)(5)-(13) as input features (race, ethnicity, language, sexual orientation, gender identity, sex, date of birth, social determinants of health, health status assessments)",
    13: "Description of demographic representativeness according to those variables, including at a minimum those used as input features",
    14: "Description of relevance of training data to intended deployed setting",
    15: "Description of the approach the intervention developer has taken to ensure that the intervention's output is fair",
    16: "Description of approaches to manage, reduce, or eliminate bias",
    17: "Description of the data source, clinical setting, or environment where the intervention's validity and fairness has been assessed, other than the source of training and testing data",
    18: "Party that conducted the external testing",
    19: "Description of demographic representativeness of external data according to those variables",
    20: "Description of external validation process",
    21: "Validity of intervention in test data derived from the same source as the initial training data",
    22: "Fairness of intervention in test data derived from the same source as the initial training data",
    23: "Validity of intervention in data external to or from a different source than the initial training data",
    24: "Fairness of intervention in data external to or from a different source than the initial training data",
    25: "References to evaluation of use of the intervention on outcomes (citations or links to evaluations of how well it reduced morbidity, mortality, length of stay, or other outcomes)",
    26: "Description of process and frequency by which the intervention's validity is monitored over time",
    27: "Validity of intervention in local data",
    28: "Description of the process and frequency by which the intervention's fairness is monitored over time",
    29: "Fairness of intervention in local data",
    30: "Description of process and frequency by which the intervention is updated",
    31: "Description of frequency by which the intervention's performance is corrected when risks related to validity and fairness are identified",
}

# Words that mark a feature as one of the (b)(11)(iv)(A)(5)-(13) variables (attribute 12).
_PROTECTED_WORDS = {
    "race": "race", "ethnic": "ethnicity", "language": "language", "orientation": "sexual orientation",
    "gender": "gender identity", "sex": "sex", "age": "date of birth (age)", "birth": "date of birth (age)",
    "sdoh": "social determinants of health", "housing": "social determinants of health",
    "food": "social determinants of health", "transport": "social determinants of health",
    "screen": "health status assessments", "assessment": "health status assessments",
}


@dataclass
class Block:
    """One piece of a section: ``text`` (Markdown-light: **bold** only), ``table``, ``figure`` or ``missing``."""

    kind: str
    text: str = ""
    table: pd.DataFrame | None = None
    figure: str = ""


def text(value: str) -> Block:
    """A paragraph (blank lines split paragraphs; **bold** is kept)."""
    return Block("text", text=value)


def missing(value: str) -> Block:
    """A fact the card cannot state; rendered as "Not available: ..." under its heading."""
    return Block("missing", text=value)


def table(frame: pd.DataFrame, caption: str = "") -> Block:
    """A table of ``frame``'s rows under an optional caption."""
    return Block("table", text=caption, table=frame)


def figure(name: str, caption: str) -> Block:
    """The SVG ``card.figures[name]`` with a caption (inline in HTML, ``name.svg`` beside card.md)."""
    return Block("figure", text=caption, figure=name)


@dataclass
class ModelCard:
    """Sections by HTI-1 attribute number, extra sections, and the SVG figures they refer to."""

    title: str
    banner: str = ""
    sections: dict[int, list[Block]] = field(default_factory=lambda: {n: [] for n in ATTRIBUTES})
    extras: dict[str, list[Block]] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)

    def add(self, number: int, block: Block) -> None:
        if number not in ATTRIBUTES:
            raise KeyError(f"HTI-1 source attribute {number} does not exist (1-31)")
        self.sections[number].append(block)

    def add_extra(self, title: str, block: Block) -> None:
        self.extras.setdefault(title, []).append(block)

    def _blocks(self, number: int) -> list[Block]:
        return self.sections[number] or [missing("no information was supplied for this attribute.")]

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        if self.banner:
            out += [f"> **{self.banner}**", ""]
        for group, numbers in GROUPS:
            out += [f"## {group}", ""]
            for n in numbers:
                out += [f"### {n}. {ATTRIBUTES[n]}", ""]
                out += [_md_block(b) for b in self._blocks(n)]
        if self.extras:
            out += ["## Beside the HTI-1 attributes", ""]
            for title, blocks in self.extras.items():
                out += [f"### {title}", ""] + [_md_block(b) for b in blocks]
        return "\n".join(out).rstrip() + "\n"

    def to_html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.banner:
            body.append(f'<p class="banner">{_inline(self.banner)}</p>')
        toc = []
        for group, numbers in GROUPS:
            body.append(f"<h2>{html.escape(group)}</h2>")
            for n in numbers:
                toc.append(f'<li><a href="#a{n}">{n}. {html.escape(ATTRIBUTES[n])}</a></li>')
                body.append(f'<h3 id="a{n}">{n}. {html.escape(ATTRIBUTES[n])}</h3>')
                body += [self._html_block(b) for b in self._blocks(n)]
        if self.extras:
            body.append("<h2>Beside the HTI-1 attributes</h2>")
            for title, blocks in self.extras.items():
                body.append(f"<h3>{html.escape(title)}</h3>")
                body += [self._html_block(b) for b in blocks]
        nav = f"<details><summary>The 31 source attributes</summary><ol class='toc'>{''.join(toc)}</ol></details>"
        return _PAGE.format(title=html.escape(self.title), nav=nav, body="\n".join(body))

    def _html_block(self, b: Block) -> str:
        if b.kind == "missing":
            return f'<p class="missing"><strong>Not available:</strong> {_inline(b.text)}</p>'
        if b.kind == "table":
            caption = f"<caption>{_inline(b.text)}</caption>" if b.text else ""
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.table.columns)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                for row in b.table.itertuples(index=False)
            )
            return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        if b.kind == "figure":
            return f"<figure>{self.figures.get(b.figure, '')}<figcaption>{_inline(b.text)}</figcaption></figure>"
        return "".join(f"<p>{_inline(p)}</p>" for p in b.text.split("\n\n"))

    def files(self) -> dict[str, str]:
        """card.md, card.html and one ``<name>.svg`` per figure."""
        out = {"card.md": self.to_markdown(), "card.html": self.to_html()}
        out.update({f"{name}.svg": svg for name, svg in self.figures.items()})
        return out


def _fmt(value) -> str:
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, float):
        if value != value:
            return "–"
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _inline(value: str) -> str:
    parts = html.escape(value).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def _md_block(b: Block) -> str:
    if b.kind == "missing":
        return f"**Not available:** {b.text}\n"
    if b.kind == "table":
        cols = [str(c) for c in b.table.columns]
        lines = ([f"*{b.text}*", ""] if b.text else []) + [
            "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)
        ]
        lines += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in b.table.itertuples(index=False)]
        return "\n".join(lines) + "\n"
    if b.kind == "figure":
        return f"![{b.text}]({b.figure}.svg)\n\n*{b.text}*\n"
    return b.text + "\n"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; color: #222; }}
h2 {{ border-bottom: 2px solid #ccc; margin-top: 2.2rem; }} h3 {{ font-size: 1.02rem; margin-top: 1.4rem; }}
table {{ border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }}
td, th {{ border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }} td:first-child, th:first-child {{ text-align: left; }}
caption {{ text-align: left; font-style: italic; padding-bottom: .3rem; }}
.banner {{ background: #fff3cd; border: 1px solid #e0c36c; padding: .6rem; }}
.missing {{ color: #7a4a00; }} figure {{ margin: 1rem 0; }} figure svg {{ max-width: 100%; height: auto; }}
</style></head><body>
{nav}
{body}
</body></html>
"""


# --------------------------------------------------------------------------------------------
# Plots


_MODEL_LABELS = {"model": "LightGBM (calibrated)", "logistic": "logistic regression", "rules": "rules baseline",
                 "general": "general acute-risk model's ranking", "oracle": "oracle (true risk)"}
_COMPARED = ("model", "logistic", "rules", "general", "oracle")


def calibration_svg(metrics: dict) -> str:
    """Observed event rate against mean predicted probability, by tenths of the test children."""
    fig = new_figure(figsize=(5.2, 4.2))
    ax = fig.add_subplot()
    top = 0.0
    for name in ("model", "logistic"):
        cal = metrics.get(name, {}).get("calibration")
        if not cal:
            continue
        ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", label=_MODEL_LABELS[name])
        top = max(top, max(cal["mean_predicted"]), max(cal["observed_rate"]))
    top = top * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.set_xlabel("mean predicted probability (tenths of test children)")
    ax.set_ylabel("observed event rate")
    ax.legend(loc="upper left", fontsize=8)
    return svg_of(fig, tight=True)


def lift_svg(metrics: dict) -> str:
    """Lift (event rate in the top share / overall rate) as the flagged share grows, per model."""
    fig = new_figure(figsize=(5.2, 4.2))
    ax = fig.add_subplot()
    for name in ("oracle", *_COMPARED[:-1]):
        curve = metrics.get(name, {}).get("lift_curve")
        if not curve:
            continue
        shares = [float(s) * 100 for s in curve]
        ax.plot(shares, list(curve.values()), marker="o", label=_MODEL_LABELS[name],
                linestyle=":" if name == "oracle" else "-")
    ax.set_xscale("log")
    ax.set_xlabel("top % of test children flagged")
    ax.set_ylabel("lift")
    ax.axhline(1, color="grey", linewidth=1)
    ax.legend(fontsize=8)
    return svg_of(fig, tight=True)


# --------------------------------------------------------------------------------------------
# What training knows


LABEL_CHOICE = "docs/label_choice.md"


def performance_table(metrics: dict) -> pd.DataFrame:
    """One row per model: discrimination, calibration and yield at the top of the list."""
    rows = []
    for name in _COMPARED:
        m = metrics.get(name)
        if not m:
            continue
        rows.append({
            "model": _MODEL_LABELS[name],
            "AUROC": m["auroc"], "AUPRC": m["auprc"],
            "Brier": m.get("brier", float("nan")), "ECE": m.get("ece", float("nan")),
            "PPV top 1%": m["top"]["0.01"]["ppv"], "lift top 1%": m["top"]["0.01"]["lift"],
            "lift top 2%": m["top"]["0.02"]["lift"], "lift top 5%": m["top"]["0.05"]["lift"],
            "PPV at capacity": m["capacity"]["ppv"], "sensitivity at capacity": m["capacity"]["sensitivity"],
        })
    return pd.DataFrame(rows)


def expected_table(metrics: dict) -> pd.DataFrame:
    """One row per model: its metrics expected under the synthetic plan's true risk."""
    rows = []
    ratios = metrics.get("ratios_to_oracle", {})
    for name in _COMPARED:
        e = metrics.get(name, {}).get("expected")
        if not e:
            continue
        rows.append({
            "model": _MODEL_LABELS[name], "expected AUROC": e["auroc"], "expected AUPRC": e["auprc"],
            "expected Brier": e.get("brier", float("nan")), "expected lift top 1%": e["top"]["0.01"]["lift"],
            "expected PPV at capacity": e["capacity"]["ppv"],
            "share of the oracle's true risk captured at capacity": ratios.get(name, {}).get("capture_at_capacity", 1.0 if name == "oracle" else float("nan")),
        })
    return pd.DataFrame(rows)


def build_card(f: ModelBundle, model_id: str) -> ModelCard:
    """The card for a freshly trained model; every attribute filled or stated missing."""
    d, m = f.design, f.metrics
    synthetic = "SYNTHETIC DATA: " if f.synthetic else ""
    card = ModelCard(
        title=f"Model card: riskstrat {model_id}",
        banner=("SYNTHETIC DATA. Every result on this card comes from a synthetic plan generated by "
                "riskstrat, not from real members; it shows how the method behaves, not how it will "
                "perform on a real plan.") if f.synthetic else "",
    )
    model = m["model"]
    card.add(1, text("Developer: the riskstrat open-source project (Apache-2.0)."))
    card.add(1, missing("contact details of the developer and of the deploying plan's responsible person are not recorded in this registry; the deploying plan must add them."))
    card.add(2, missing("the funding source of this implementation has not been declared."))
    card.add(3, text(
        f"A calibrated probability, per child enrolled at the as-of month, of {d.label_definition}. "
        "A score of 0.2 means about one such child in five has the outcome"
        f"{_calibrated_on_words(f)}. Each month the "
        "children are ranked by it and the top ones (the outreach capacity) are flagged for "
        "intensive care coordination, with the features that raised their risk most (SHAP)."))
    card.add(4, text("Prediction (a probability), used to produce a ranking and a flag (classification at a capacity cut)."))
    card.add(5, text(
        "Find, each month, the Medicaid children most likely to have an acute event in the next "
        f"{d.horizon_months} months so a care-management team can offer intensive care coordination "
        "before the crisis."))
    card.add(6, text("Children (aged 0-20) enrolled in a Medicaid or CHIP managed-care plan whose claims, pharmacy and ED feeds riskstrat ingests."))
    card.add(7, text("Care-management and outreach teams of the health plan, and the plan's analysts and data scientists who run and audit the model."))
    card.add(8, text("Informs. It prioritises whom to call first; it does not decide eligibility for services, and a care coordinator's judgement decides enrolment."))
    card.add(9, text(
        "Do not use it: to deny, limit or ration services or coverage; for adults; for clinical "
        "diagnosis or triage of an individual; in plans or populations it was not trained on "
        "without local validation; for an outcome other than the one stated in 3; or with "
        "data older or newer than its look-back expects."))
    card.add(10, text(
        "It only sees what claims and feeds record: children who use little care because of "
        "barriers to access look lower-risk than they are. Claims lag, so recent events may be "
        "missing. Performance drifts as the population, coding and benefits change. The label is "
        "acute need, not the whole of need; ranking by cost would repeat the bias documented by "
        "Obermeyer et al. (Science, 2019)."))
    card.add(11, text(
        f"Specification {d.spec} ({_population_words(f)}). The model that scores children learned from every "
        f"matured child-month the plan has: every child enrolled at each as-of month {d.fit_months[0]} to "
        f"{d.fit_months[-1]}, with a {d.lookback_months}-month look-back; only months whose outcome window and "
        f"claims run-out had closed by {d.as_of}. How it is judged without seeing its own test rows "
        f"(cross-fitting): children are split into {d.folds} folds by a fixed hash of the person key; for each "
        f"fold a fit learns from the other folds' children in the months before the test months "
        f"({d.train_months[0]} to {d.train_months[-1]}), stops adding trees when its own fold's children in those "
        f"months stop gaining from them, and scores its own fold's children. The test months "
        f"({', '.join(d.test_months)}) are therefore scored for every child by a fit that never learned from that "
        "child nor from any month as late; the child's earlier months only chose when that fit stopped."
        + _judging_sample_words(f)
        + _memory_sample_words(f)
        + (f" {d.note}." if d.note else "")))
    card.add(11, table(f.attrition[["step", "rows", "children", "events", "note"]], "Attrition: rows kept and dropped at each step"))
    features = [x.to_dict() for x in f.features]
    used = _protected_features(features)
    if used:
        card.add(12, text("Input features that are, or derive from, these variables: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in used.items()) + "."))
    else:
        card.add(12, text("None of race, ethnicity, language, sexual orientation, gender identity, sex, date of birth, social determinants of health or health status assessments is an input feature (judged from the feature names)."))
    card.add(12, text("All input features, in model order: " + ", ".join(x.name for x in f.features) + "."))
    if not _fairness_sections(card, f):
        card.add(13, missing("the demographic make-up of the training and test children (race, ethnicity, sex, age band, aid category) has not been tabulated for this model."))
    source = ("Training data come from a synthetic plan that imitates a Medicaid plan's monthly deliveries; "
              "on a real plan they are" if f.synthetic else "Training data are")
    card.add(14, text(
        f"{source} the deploying plan's own deliveries, the same sources the model scores each month, so the "
        f"setting is the intended one. The most recent month the model learned from is {d.fit_months[-1]}, "
        f"{months_apart(d.fit_months[-1], d.as_of)} months before the as-of month {d.as_of}: the {d.horizon_months}-month "
        f"outcome window and {d.runout_months} months of claims run-out of the newest label that has happened."))
    card.add(16, text(
        "The label is acute care use, not cost (Obermeyer et al., Science 2019). Monotone "
        "constraints keep more recorded use from ever lowering risk."))
    card.add(16, missing("no further bias mitigation is recorded for this model."))
    for n in (17, 18, 19, 20):
        card.add(n, missing("no external validation has been done."))
    card.add(21, text(
        f"{synthetic}Test months {', '.join(d.test_months)}: {model['n']:,} child-months, "
        f"{model['events']:,} events (prevalence {model['prevalence']:.3f}) among {_population_words(f)}, each scored "
        f"by a fit that never learned from the child nor from those months, and calibrated on other months' "
        f"out-of-fold scores{_calibrated_on_words(f)}. {m.get('capacity_note', '')}."))
    card.add(21, table(performance_table(m), f"{synthetic}Performance on the test months, beside the baselines"))
    card.add(21, text(synthetic + _baseline_words(m)))
    if any("expected" in m.get(k, {}) for k in ("model", "oracle")):
        card.add(21, table(expected_table(m), f"{synthetic}Expected metrics against the true risk (steady where realised ones move ±0.02)"))
    if "ratio_to_oracle" in m:
        r = m["ratio_to_oracle"]
        card.add(21, text(
            f"{synthetic}Model / oracle: AUROC {r['auroc']:.3f}, expected AUROC {r.get('expected_auroc', float('nan')):.3f}, "
            f"AUPRC {r['auprc']:.3f}, expected AUPRC {r.get('expected_auprc', float('nan')):.3f}."))
    card.figures["calibration"] = calibration_svg(m)
    card.figures["lift"] = lift_svg(m)
    card.add(21, figure("calibration", f"{synthetic}Calibration on the test months"))
    card.add(21, figure("lift", f"{synthetic}Lift by share of children flagged, test months"))
    card.add(23, missing("no validation on data from another source has been done."))
    card.add(24, missing("no fairness assessment on data from another source has been done."))
    card.add(25, missing("no evaluation of the intervention's effect on outcomes exists."))
    card.add(26, text(
        f"Each month the report (outputs/YYYY-MM/report.html) tracks every scoring month whose outcomes have matured "
        f"({d.horizon_months} outcome months plus {d.runout_months} of claims run-out later): realised AUROC, "
        "calibration (ECE, observed/expected) and the PPV and sensitivity of that month's flags, with intervals. "
        "It also gives the population stability index (PSI) of every feature and of the score against this model's "
        "training data and against last month, with warnings above the audit.psi_warn and audit.psi_alert "
        "thresholds; a large shift against training triggers a retrain (audit.retrain_score_psi, "
        "audit.retrain_feature_share)."))
    card.add(27, text(f"{synthetic}The test months above are local data (the deploying plan's own)."))
    card.add(28, text(
        "Each month the report gives, by race, ethnicity, sex, age band, aid category and region, each group's "
        "share of the scored children and its flag rate with 95% intervals, and states the clearest gaps; outcomes "
        "of the month are not known yet. Once a month's outcomes mature, its realised performance is tracked "
        "(26); subgroup TPR, PPV and calibration are recomputed at every retrain on the new test months (22)."))
    card.add(30, text("The model is retrained on the latest matured months on the schedule in riskstrat.toml (schedule.retrain_every_months); a retrained challenger replaces the champion only if it is not worse on the same test months, and every model stays in the registry."))
    card.add(31, text("When monitoring finds a validity or fairness problem, the model is retrained at the next run or, if urgent, retrained and promoted at once with `riskstrat train --promote`."))
    card.add_extra("Label", text(
        f"{d.label_definition}. Why this outcome is the need this list serves: {declared_outcomes()[d.outcome].need} "
        "The labels are acute need, not cost: cost measures access to care as much as need, and ranking by it "
        "under-serves children who face barriers (Obermeyer et al., Science 2019). Why each outcome was chosen, "
        f"and what a cost label (high_cost) changes, measured on a synthetic plan: {LABEL_CHOICE}."))
    card.add_extra("Calibration", text(
        f"Platt scaling on the booster's log-odds, fitted out of sample: on the out-of-fold scores of every month "
        f"({f.calibrator.n_:,} child-months, {f.calibrator.events_:,} events; the judged fits' own calibration used "
        f"the training months' only): "
        f"probability = 1 / (1 + exp(-({f.calibrator.slope_:.4f} x raw + {f.calibrator.intercept_:.4f}))). "
        f"Test-month expected calibration error: {model.get('ece', float('nan')):.4f}."))
    card.add_extra("Model and provenance", table(pd.DataFrame([
        ("model id", model_id), ("algorithm", f"LightGBM gradient-boosted trees, {f.trees} trees of at most {f.params.get('num_leaves')} leaves"),
        ("monotone features", ", ".join(x.name for x in f.features if x.direction) or "none"),
        ("feature catalogue hash", (f.catalogue_hash or f.declarations_hash)[:16]),
        ("lake data digest", str(f.data_hashes.get("digest") or "not read from a lake")[:16]),
        ("code", f"riskstrat {f.code.get('version')} {(f.code.get('git_commit') or 'no git commit')[:12]}"),
    ], columns=["item", "value"])))
    if f.drift_reference:
        r = f.drift_reference
        card.add_extra("Subgroups and drift", text(
            f"Drift reference (drift_reference.json): the binned distribution of {len(r['profiles']) - 1} features and "
            f"of the score on {r['rows']:,} {r['source']} (as-of months {r['months'][0]} to {r['months'][-1]}), "
            "the reference of each month's PSI. The subgroup table with intervals is under 22."))
    else:
        card.add_extra("Subgroups and drift", missing("no drift reference was stored with this model, so its monthly PSI against training cannot be computed."))
    _learning_curve_section(card, f)
    card.add_extra("TRIPOD+AI items", text(
        "Source of data, participants, outcome and its horizon (3, 11), predictors (12 and the "
        "feature list), sample size and missing data (the attrition table), analysis methods "
        "(model and calibration above), performance with calibration (21) and limitations (10) "
        "are stated on this card."))
    card.add_extra("TRIPOD+AI items", missing("sample-size justification, confidence intervals for performance, and model updating results are not reported."))
    return card


def learning_curve_svg(points: list[dict]) -> str:
    """AUROC (and expected AUROC) against the children the model learned from, log scale."""
    fig = new_figure(figsize=(5.2, 3.6))
    ax = fig.add_subplot()
    children = [p["children"] for p in points]
    ax.plot(children, [p["auroc"] for p in points], marker="o", label="AUROC")
    if all("expected_auroc" in p for p in points):
        ax.plot(children, [p["expected_auroc"] for p in points], marker="s", label="expected AUROC (true risk)")
    ax.set_xscale("log")
    ax.set_xlabel("training children (first fold)")
    ax.set_ylabel("AUROC on the fold's test rows")
    ax.legend(fontsize=8)
    return svg_of(fig, tight=True)


# Under this many events in the test rows a learning curve's realised AUROCs are mostly noise.
_CURVE_MIN_EVENTS = 100


def _learning_curve_section(card: ModelCard, f: ModelBundle) -> None:
    points = f.metrics.get("learning_curve") or []
    if len(points) < 2:
        card.add_extra("Learning curve", missing("too few training children to refit on shares of them."))
        return
    synthetic = "SYNTHETIC DATA: " if f.synthetic else ""
    frame = pd.DataFrame(points).rename(columns={"share": "share of training children", "test_rows": "test rows",
                                                 "child_months": "child-months",
                                                 "non_events_kept": "share of non-event child-months kept"})
    # A point whose fit was down-sampled (judging_rows) learned from a capped number of rows, so the
    # doubling is read between the last two that learned from all of their children's rows.
    whole = [p for p in points if p.get("non_events_kept", 1.0) >= 1.0]
    capped = ("" if len(whole) == len(points) else
              f" Fits of more than {f.metrics['cross_fit']['judging_max_rows']:,} child-months learned from every event "
              "and a weighted share of the other child-months (last column), so they are shown but not compared.")
    doubling = ""
    events = points[-1]["events"]
    if len(whole) >= 2 and "expected_auroc" not in whole[-1] and events < _CURVE_MIN_EVENTS:
        doubling = (f" With {events:,} events in these test rows the AUROCs move by chance more than with the "
                    "number of children: read no trend from them.")
    elif len(whole) >= 2:
        last, before = whole[-1], whole[-2]
        gain = last.get("expected_auroc", last["auroc"]) - before.get("expected_auroc", before["auroc"])
        doubling = (f" Doubling from {before['children']:,} to {last['children']:,} children changed the "
                    f"{'expected ' if 'expected_auroc' in last else ''}AUROC by {gain:+.3f}: "
                    + ("a plan this size still gains from more children or more history." if gain > 0.005 else
                       "more children of the same kind would add little; more history or new features might."))
    card.add_extra("Learning curve", text(
        f"{synthetic}The first fold's fit refitted on a fixed share of its training children, judged on the same "
        f"test rows, the first fold's among {_population_words(f)} (as OHDSI PatientLevelPrediction reports it)."
        f"{doubling}{capped}"))
    card.add_extra("Learning curve", table(frame, f"{synthetic}Quality against the number of training children"))
    card.figures["learning_curve"] = learning_curve_svg(points)
    card.add_extra("Learning curve", figure("learning_curve", f"{synthetic}AUROC against training children"))


def _shares(kept: list[float]) -> str:
    low, high = f"{min(kept):.0%}", f"{max(kept):.0%}"
    return low if low == high else f"{low} to {high}"


def _judging_sample_words(f: ModelBundle) -> str:
    cross_fit = f.metrics.get("cross_fit", {})
    kept = cross_fit.get("fold_non_events_kept") or []
    stopping = cross_fit.get("fold_stopping_non_events_kept") or []
    words = ""
    if kept and min(kept) < 1.0:
        words += (f" To keep training within its time, a judging fit learns from about {cross_fit['judging_max_rows']:,} "
                  f"child-months at most: each fold's fit learned from every event and {_shares(kept)} of the other "
                  "child-months, each weighted by the inverse of that share so the fit keeps the plan's event rate. "
                  "The model that scores children learned from all of them, with the folds' mean tree count.")
    if stopping and min(stopping) < 1.0:
        words += (f" Each fold's early stopping scored about {cross_fit['stopping_max_rows']:,} of its own children's "
                  f"child-months every round: every event and {_shares(stopping)} of the others, weighted likewise.")
    return words


def _memory_sample_words(f: ModelBundle) -> str:
    marker = "kept by the memory sample: "
    step = next((s for s in f.attrition["step"] if marker in s), None)
    if step is None:
        return ""
    return (" The training frame is held on one machine whatever the engine, so it kept "
            + step.split(marker, 1)[1] + "; every model and fit learned from those children only.")


def _calibrated_on_words(f: ModelBundle) -> str:
    on = f.metrics.get("cross_fit", {}).get("calibrated_on")
    return f" ({on})" if on else ""


def _auroc_half_width(auroc: float, events: int, others: int) -> float:
    """Half the 95% interval of an AUROC (Hanley & McNeil, Radiology 1982), for saying whether two
    scorers' AUROCs on the same rows differ by more than chance."""
    if events < 1 or others < 1:
        return float("nan")
    q1, q2 = auroc / (2 - auroc), 2 * auroc ** 2 / (1 + auroc)
    var = (auroc * (1 - auroc) + (events - 1) * (q1 - auroc ** 2) + (others - 1) * (q2 - auroc ** 2)) / (events * others)
    return 1.96 * max(var, 0.0) ** 0.5


def _baseline_words(m: dict) -> str:
    """Which baseline, if any, ranks the test rows better than the model, and whether that is more than chance."""
    model = m["model"]
    if not all(math.isfinite(model[k]) for k in ("auroc", "auprc")):
        return "The model's ranking cannot be judged on these test rows (AUROC or AUPRC undefined), nor compared with the baselines."
    beaten = [(name, m[name]) for name in ("logistic", "rules", "general")
              if m.get(name) and (m[name]["auroc"] > model["auroc"] or m[name]["auprc"] > model["auprc"])]
    if not beaten:
        return "The model ranks the test rows at least as well as every baseline, on AUROC and AUPRC."
    events, others = model["events"], model["n"] - model["events"]
    sentences = []
    for name, b in beaten:
        gap = b["auroc"] - model["auroc"]
        chance = (2 ** 0.5) * _auroc_half_width(model["auroc"], events, others)
        sentences.append(
            f"The {_MODEL_LABELS[name]} ranks these test rows better than the model on "
            + " and ".join(f"{k.upper()} ({b[k]:.3f} against {model[k]:.3f})" for k in ("auroc", "auprc") if b[k] > model[k])
            + (f"; with {events:,} events an AUROC difference under about {chance:.2f} is within chance" if gap > 0 else "")
            + ".")
    if "expected" in model:
        sentences.append("On a synthetic plan the expected metrics against the true risk (below) are the steadier comparison.")
    return " ".join(sentences)


def _population_words(f: ModelBundle) -> str:
    return (f.metrics.get("cross_fit", {}).get("population") or "every child").replace("children the", "the children the")


def _fairness_sections(card: ModelCard, f: ModelBundle) -> bool:
    """Attributes 13, 15, 22 and 29 from fairness.json; False (nothing added) when there is none."""

    fair = f.fairness
    synthetic = "SYNTHETIC DATA: " if f.synthetic else ""
    card.add(15, text(
        "Race and ethnicity are never input features; they are read only to audit. On the held-out test months "
        "riskstrat computes, for every group of race, ethnicity, sex, age band, aid category (foster care "
        "included) and region: its share, flag rate, outcome rate, calibration (observed / expected) and TPR and "
        "PPV at the flag cut, each with a 95% interval; compares each group with the other children and states "
        "the clear gaps in words; and runs the Obermeyer et al. (Science 2019) check — at the same score, do "
        "children of one group carry more need (outcomes, chronic conditions)? The label is acute need, not cost "
        f"({LABEL_CHOICE}). The same table for each month's flags is in the monthly report."))
    if not fair or not fair.get("available"):
        reason = (fair or {}).get("note") or "no fairness.json was stored with this model"
        for n in (13, 22, 29):
            card.add(n, missing(f"subgroup results were not computed for this model ({reason})."))
        return False
    frame = fairness_frame(fair)
    shown = display_table(frame)
    flags = (f"Flags: the top {fair['capacity_per_month']} test children per test month (the monthly capacity). "
             "Intervals are 95% (Wilson for rates). Groups under "
             f"{fair['min_n']} child-months are marked too small and not judged.")
    plan_rows = frame[frame["group"] == ALL]
    if len(plan_rows) and (plan_rows["flag_rate"] >= 1).all():
        flags += (" The capacity is at least the number of children the list ranked in each test month, so every "
                  "child is flagged: flag rates and TPR cannot differ between groups.")
    # fairness.json of a model registered before it counted child-months ("rows") has children only
    counted = (f"{fair['rows']:,} test child-months ({fair['children']:,} children, each once per test month: "
               f"{', '.join(fair['months'])})" if "rows" in fair else
               f"{fair['children']:,} test children ({', '.join(fair['months'])})")
    card.add(13, text(
        f"{synthetic}Share of the {counted} in each group, with "
        "95% intervals. The model learned from every child of the same plan, so the make-up of its training "
        "children is the same up to the months; race, ethnicity and region are recorded in eligibility, not "
        "used as features."))
    card.add(13, table(shown[["attribute", "group", "children", "share"]], f"{synthetic}Demographic make-up of the test children"))
    card.add(22, text(f"{synthetic}The largest gaps, in words (each group against the other children):"))
    card.add(22, text("\n\n".join(f"- {g}" for g in fair["gaps"])))
    card.add(22, table(shown, f"{synthetic}Fairness by group on the test months. {flags}"))
    card.figures["fairness"] = fairness_plot_svg(frame)
    card.add(22, figure("fairness", f"{synthetic}Flag rate, TPR and observed/expected by group with 95% intervals (dashed: plan; groups too small to judge left off)"))
    card.add(22, text(
        f"{synthetic}The Obermeyer check: at the same score, do children of one group carry more need? Each "
        "group against the largest, averaged over score deciles; a clearly positive gap means the group is sicker "
        "at the same score (under-served)."))
    for check, stored in zip(need_checks(fair), fair["need"]):
        summary = check.summary[["group", "measure", "gap", "lo", "hi", "reference_mean", "n", "too_small"]].copy()
        summary.insert(0, "reference", check.reference)
        card.add(22, table(summary, f"{synthetic}Need at equal score by {check.attribute.replace('_', ' ')} (gap = group minus reference)"))
        clear = [s for s in stored["sentences"] if "within chance" not in s and "too few" not in s]
        card.add(22, text("\n\n".join(f"- {s}" for s in clear) if clear else
                          f"No group differs clearly from {check.reference} in need at equal score."))
        name = f"need_{check.attribute}"
        card.figures[name] = need_plot_svg(check)
        card.add(22, figure(name, f"{synthetic}Mean outcome against mean score per score decile, by {check.attribute.replace('_', ' ')}"))
    card.add(29, text(f"{synthetic}The test months under 22 are local data (the deploying plan's own). Each month's flags by group are in that month's report."))
    return True


def _protected_features(features: list[dict]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for feat in features:
        tokens = feat["name"].lower().replace("-", "_").split("_")
        for word, variable in _PROTECTED_WORDS.items():
            if any(t.startswith(word) for t in tokens):
                found.setdefault(variable, []).append(feat["name"])
                break
    return found
