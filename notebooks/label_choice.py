"""What a cost label changes: the acute-need champion against a high_cost champion, on the same months.

Run once for docs/label_choice.md (not part of ``make test``: it needs two trained plans)::

    riskstrat synth  --workspace P/acute --members 30000 --months 36 --end 2025-11 --seed 11
    riskstrat ingest --workspace P/acute
    riskstrat train  --workspace P/acute --as-of 2025-11          # model.outcome = acute_event (default)
    mkdir P/cost && ln -s ../acute/lake P/cost/lake && ln -s ../acute/truth P/cost/truth
    printf '[model]\\noutcome = "high_cost"\\n' > P/cost/riskstrat.toml
    riskstrat train  --workspace P/cost --as-of 2025-11
    python notebooks/label_choice.py P/acute P/cost

Both models share the lake, the design and the split; only the label differs. On each of their
test months (outcomes known, months neither model trained on) every enrolled child is scored by
both and each model flags its top ``scoring.capacity``, as the worklist would. Prints Markdown:
who each flags (overlap, outcomes, need, group mix) and the Obermeyer check for each model.
Children who left the plan before their acute outcome could be observed are left out, as in
training. Only counts and shares are printed, never a member.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from riskstrat.audit.fairness import need_at_equal_score
from riskstrat.audit.performance import auroc
from riskstrat.audit.workspace import month_groups
from riskstrat.config import load_settings
from riskstrat.core.ranking import pick_top
from riskstrat.features import build_features
from riskstrat.model import registry
from riskstrat.model.labels import apply_follow_up_rule, build_labels

MODELS = ("acute_event", "high_cost")


def month_frame(workspace: Path, month: str, models: dict, settings) -> pd.DataFrame:
    """Every child of ``month`` with both scores, both flags, both outcomes, paid amount, need and groups."""
    features = build_features(workspace, month, settings)
    runout = max(m.design.runout_months for m in models.values())
    labels, _ = build_labels(workspace, month, settings, runout_months=runout)
    kept, _ = apply_follow_up_rule(labels, "acute_event", settings.model.horizon_months)
    frame = features.merge(kept[["person_id", "acute_event", "high_cost", "paid"]], on="person_id", how="inner")
    groups = month_groups(workspace, month, features[["person_id", "age_years"]].rename(columns={"age_years": "age"}))
    frame = frame.merge(groups, on="person_id", how="left")
    capacity = settings.scoring.capacity
    for name, model in models.items():
        frame[f"score_{name}"] = model.predict_proba(frame)
        frame[f"flag_{name}"] = pick_top(frame[f"score_{name}"], frame["person_id"], capacity).astype(int)
    frame["as_of"] = month
    return frame


def md(frame: pd.DataFrame) -> str:
    """A Markdown table (pandas' own needs the tabulate package, which riskstrat does not install)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)])


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main(acute_ws: str, cost_ws: str) -> None:
    acute_ws, cost_ws = Path(acute_ws), Path(cost_ws)
    models = {"acute_event": registry.load_model(acute_ws), "high_cost": registry.load_model(cost_ws)}
    assert models["acute_event"].design.outcome == "acute_event" and models["high_cost"].design.outcome == "high_cost"
    months = models["acute_event"].design.test_months
    assert months == models["high_cost"].design.test_months, "the two models must share their test months"
    settings = load_settings(acute_ws)
    data = pd.concat([month_frame(acute_ws, m, models, settings) for m in months], ignore_index=True)
    fa, fc = data["flag_acute_event"] == 1, data["flag_high_cost"] == 1

    print(f"# Label choice on {acute_ws.name}: test months {', '.join(months)}\n")
    print(f"Models: acute_event `{models['acute_event'].model_id}`, high_cost `{models['high_cost'].model_id}`. "
          f"{len(data):,} child-months; top {settings.scoring.capacity} flagged per month by each model.\n")
    both = int((fa & fc).sum())
    print(f"Flagged by both: {both} of {int(fa.sum())} ({pct(both / fa.sum())}).\n")

    rows = []
    for label, who in (("all children", np.ones(len(data), bool)), ("flagged by acute_event model", fa),
                       ("flagged by high_cost model", fc), ("flagged by acute_event only", fa & ~fc),
                       ("flagged by high_cost only", fc & ~fa)):
        d = data[who]
        rows.append({
            "children": label, "n": len(d), "acute event": pct(d["acute_event"].mean()),
            "high cost": pct(d["high_cost"].mean()), "mean paid in window": f"{d['paid'].mean():,.0f}",
            "complex chronic (PMCA 2)": pct((d["pmca_class"] == 2).mean()),
            "mean chronic groups": f"{d['chronic_condition_groups_12m'].mean():.2f}",
            "any BH diagnosis": pct((d["bh_condition_groups_12m"] > 0).mean()),
            "foster care": pct((d["aid_category"] == "foster_care").mean()),
            "SSI/disabled": pct((d["aid_category"] == "ssi_disabled").mean()),
            "Black": pct((d["race"] == "black or african american").mean()),
            "Hispanic": pct((d["ethnicity"] == "hispanic").mean()),
        })
    print(md(pd.DataFrame(rows)), "\n")

    print("AUROC for the acute outcome: " + ", ".join(
        f"{name} model {auroc(data['acute_event'].to_numpy(float), data[f'score_{name}'].to_numpy(float)):.3f}"
        for name in MODELS) + "\n")

    for attribute in ("race", "aid_category"):
        lines = []
        for name in MODELS:
            frame = data.rename(columns={f"score_{name}": "score"})
            check = need_at_equal_score(frame, attribute, ("acute_event", "chronic_condition_groups_12m"))
            s = check.summary[~check.summary["too_small"]]
            for r in s.itertuples():
                lines.append({"model": name, "group": r.group, "reference": r.reference, "need": r.measure,
                              "gap at equal score": f"{r.gap:+.3f} ({r.lo:+.3f} to {r.hi:+.3f})",
                              "reference mean": f"{r.reference_mean:.3f}", "n": r.n})
        print(f"## Need at equal score by {attribute}\n")
        print(md(pd.DataFrame(lines)), "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
