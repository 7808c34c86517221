"""report.html of a programme evaluation: the pilot-style table with intervals, balance, the event study, and the design's limits in plain words.

``templates/report.html`` filled with escaped values and inline SVG (:mod:`riskstrat.core.plots`,
no date, fixed ids), so the same evaluation gives the same bytes. No member-level data appears.
"""

from __future__ import annotations

from importlib import resources
from string import Template

import numpy as np
import pandas as pd

from riskstrat.core.fingerprint import code_fingerprint
from riskstrat.core.html import escape, html_table
from riskstrat.core.plots import figure, svg_of
from riskstrat.evaluation.estimate import BIN_MONTHS, REFERENCE_BIN
from riskstrat.evaluation.result import Evaluation


def change_words(percent: float, low: float, high: float) -> str:
    """"38% fewer (95% CI 12% to 56% fewer)": a change and its interval as people say them."""
    def one(value: float) -> str:
        return f"{abs(value):.0f}% {'fewer' if value < 0 else 'more'}" if round(value) else "no change"
    if not np.isfinite([percent, low, high]).all():
        return "not estimable (too few events)"
    return f"{one(percent)} (95% CI {one(low)} to {one(high)})"


def _dollar_interval(coefficient: float, std_error: float) -> tuple[float, float]:
    """A linear change's 95% interval in dollars (normal approximation to the fit's own)."""
    return coefficient - 1.96 * std_error, coefficient + 1.96 * std_error


def _dollars(value: float) -> str:
    return f"${abs(value):,.0f} {'lower' if value < 0 else 'higher'}" if round(value) else "no change"


def _paid_words(percent: float, low: float, high: float, dollars: float, std_error: float) -> str:
    """A change of paid PMPM as a share of the counterfactual, or in dollars when a share cannot say it:
    an interval past -100% (spending cannot fall by more than all of it) or a counterfactual that is
    not positive comes from a linear fit on too few children, not from the plan."""
    if np.isfinite([percent, low, high]).all() and low > -100:
        return change_words(percent, low, high).replace("fewer", "lower").replace("more", "higher")
    if not np.isfinite([dollars, std_error]).all():
        return "not estimable (too few children)"
    low, high = _dollar_interval(dollars, std_error)
    return (f"{_dollars(dollars)} per child-month (95% CI about {_dollars(low)} to {_dollars(high)}; "
            "too uncertain to give as a share)")


def effect_words(row, naive: bool = False) -> str:
    """A row of the effects table (its difference-in-differences, or ``naive`` before/after) in words."""
    prefix = "naive_" if naive else ""
    values = (row[f"{prefix}change_percent"], row[f"{prefix}low_percent"], row[f"{prefix}high_percent"])
    if row["model"] == "linear":
        return _paid_words(*values, row[f"{prefix}coefficient"], row[f"{prefix}std_error"])
    return change_words(*values)


def _headline(effects: pd.DataFrame) -> str:
    rows = []
    for _, r in effects.iterrows():
        rows.append([r["outcome"], f"{int(r['months_after'])} months", effect_words(r), effect_words(r, naive=True),
                     int(r["enrolled_children"]), int(r["comparison_children"])])
    return html_table(["outcome", "after enrolment", "change against matched comparisons",
                       "naive before/after", "enrolled children", "comparison children"], rows, {4, 5})


def _summary(result: Evaluation) -> str:
    effects = result.effects
    first = effects[effects["months_after"] == min(result.windows)]
    parts = []
    for _, r in first.iterrows():
        low, high = r["low_percent"], r["high_percent"]
        if not np.isfinite([low, high]).all():  # paid PMPM shown in dollars (effect_words)
            low, high = _dollar_interval(r["coefficient"], r["std_error"])
        covers_zero = low <= 0 <= high
        verdict = "no change that the data can tell from chance" if covers_zero else effect_words(r)
        parts.append(f"{r['outcome']}: {verdict}, where the naive before/after says {effect_words(r, naive=True)}")
    k = min(result.windows)
    return escape(f"Over the {k} months after enrolment, {result.counts['matched']:,} enrolled children against "
                  f"{result.counts['comparisons']:,} matched comparison children. " + "; ".join(parts) + ".")


def _rates(effects: pd.DataFrame) -> str:
    rows = []
    for _, r in effects.iterrows():
        fmt = (lambda v: f"${v:,.0f}") if r["model"] == "linear" else (lambda v: f"{1000 * v:.1f}")
        rows.append([r["outcome"], f"{int(r['months_after'])} months",
                     *(fmt(r[f"per_child_month_{k}"]) for k in ("enrolled_before", "enrolled_after",
                                                               "comparison_before", "comparison_after"))])
    return html_table(["outcome", "after enrolment", "enrolled: before", "enrolled: after", "comparison: before",
                       "comparison: after"], rows, {2, 3, 4, 5})


def event_plot(events: dict[str, pd.DataFrame]) -> str:
    """One panel per outcome: the change (percent) in each month around enrolment, with its 95% interval."""
    fig = figure(figsize=(9, 5.6))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.09, top=0.94, hspace=0.45, wspace=0.22)
    for i, (label, es) in enumerate(events.items()):
        ax = fig.add_subplot(2, 2, i + 1)
        ax.set_title(label, fontsize=10)
        if len(es) < 2:
            ax.text(0.5, 0.5, "too few events to estimate", ha="center", va="center", transform=ax.transAxes,
                    fontsize=9, color="#555")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        ax.axhline(0, color="#888", linewidth=0.8)
        ax.axvline(0, color="#bbb", linewidth=0.8, linestyle="--")
        ax.fill_between(es["rel"], es["low"].clip(-100, 300), es["high"].clip(-100, 300), color="#4C78A8", alpha=0.2,
                        linewidth=0)
        ax.plot(es["rel"], es["percent"].clip(-100, 300), marker="o", markersize=3, color="#4C78A8")
        ax.set_xlabel(f"months from enrolment (middle of each {BIN_MONTHS}-month period)", fontsize=8)
        ax.set_ylabel("change, %", fontsize=8)
        ax.tick_params(labelsize=8)
    return svg_of(fig)


def balance_plot(balance: pd.DataFrame, limit: float) -> str:
    """Standardised mean difference of each covariate before (grey) and after (blue) matching."""
    fig = figure(figsize=(8, 0.32 * len(balance) + 1.0))
    fig.subplots_adjust(left=0.45, right=0.97, bottom=0.7 / (0.32 * len(balance) + 1.0), top=0.98)
    ax = fig.add_subplot()
    y = np.arange(len(balance))[::-1]
    ax.axvline(0, color="#888", linewidth=0.8)
    for edge in (-limit, limit):
        ax.axvline(edge, color="#d9a0a0", linewidth=0.8, linestyle="--")
    ax.scatter(balance["smd_before"], y, color="#bbb", label="before matching", zorder=3)
    ax.scatter(balance["smd_after"], y, color="#4C78A8", label="after matching", zorder=4)
    ax.set_yticks(y, balance["label"], fontsize=8)
    ax.set_xlabel("standardised mean difference (enrolled minus comparison)", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8, loc="lower right")
    return svg_of(fig)


def _balance_table(balance: pd.DataFrame, limit: float) -> str:
    rows = [[r["label"], f"{r['enrolled_mean']:.3f}", f"{r['comparison_mean_before']:.3f}",
             f"{r['comparison_mean_after']:.3f}", f"{r['smd_before']:+.3f}",
             f"{r['smd_after']:+.3f}" + (" (over the limit)" if abs(r["smd_after"]) >= limit else "")]
            for _, r in balance.iterrows()]
    return html_table(["covariate", "enrolled (matched)", "candidates before matching", "comparisons (matched)",
                       "SMD before", "SMD after"], rows, {1, 2, 3, 4, 5})


def _balance_verdict(balance: pd.DataFrame, limit: float) -> str:
    over = balance[balance["smd_after"].abs() >= limit]
    worst = balance["smd_after"].abs().max()
    if over.empty:
        return escape(f"Every covariate is balanced after matching: the largest standardised mean difference is "
                      f"{worst:.3f}, under {limit}.")
    return ('<span class="warn">' + escape(
        f"{len(over)} covariate(s) remain unbalanced after matching ({', '.join(over['label'])}): the estimates may "
        "carry that difference.") + "</span>")


def render_report(result: Evaluation) -> str:
    """The whole page."""
    ev = result.settings.evaluation
    sources = [[s.month, s.model_id, "published that month" if s.published else "computed now (not published)"]
               for s in result.sources]
    unobservable = (f"Not yet observable: {', '.join(f'{k} months' for k in result.unobservable)} after "
                    f"{result.last} (the lake's claims do not reach that far)." if result.unobservable else "")
    template = Template(resources.files("riskstrat.evaluation").joinpath("templates/report.html").read_text("utf-8"))
    return template.substitute(
        title=escape(result.program.replace("_", " ").title()),
        first=escape(result.first), last=escape(result.last), lake_through=escape(result.lake_through),
        code=escape(code_fingerprint()["digest"][:12]), summary=_summary(result), headline=_headline(result.effects),
        pre=ev.pre_months, unobservable=escape(unobservable), rates=_rates(result.effects),
        reference=f"{BIN_MONTHS * (-REFERENCE_BIN - 1) + 1}-{BIN_MONTHS * -REFERENCE_BIN}", bin=BIN_MONTHS,
        per_child=ev.comparisons_per_child,
        event_plot=event_plot(result.events),
        attrition=html_table(["step", "children"], [[s, int(n)] for s, n in result.attrition], {1}),
        caliper=ev.caliper,
        sources=html_table(["index month", "scored with", "scores"], sources),
        balance_verdict=_balance_verdict(result.balance, ev.balance_limit),
        balance_plot=balance_plot(result.balance, ev.balance_limit),
        balance=_balance_table(result.balance, ev.balance_limit),
        runout=result.settings.model.runout_months,
    )
