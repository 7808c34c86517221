# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Audit of a riskstrat model and a scoring month
#
# Is the model fair, is it still working, and what exactly is it? This notebook walks through
# the registered model's performance and calibration, the month's SHAP explanations, fairness by
# group (with the Obermeyer need-at-equal-score check), drift and the realised performance of
# past months. Every number comes from `riskstrat.audit` (see `docs/audit.md` for how to read
# them); the notebook only loads and shows. It prints no member names or ids.
#
# Set `RISKSTRAT_WORKSPACE` (default: the current folder) and optionally `RISKSTRAT_MONTH`
# (default: the latest month in `outputs/`), `RISKSTRAT_LIST` (default: `acute_event`, the general
# list; or `stronger_together`, `cares`, any file of the plan's `models/`) and `RISKSTRAT_MODEL`
# (default: the model that scored that list that month, else its champion).

# %% tags=["parameters"]
import os

WORKSPACE = os.environ.get("RISKSTRAT_WORKSPACE", ".")
MONTH = os.environ.get("RISKSTRAT_MONTH") or None
MODEL_ID = os.environ.get("RISKSTRAT_MODEL") or None
LIST = os.environ.get("RISKSTRAT_LIST") or "acute_event"  # which list (models/<name>.yaml) to audit

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import shap
from IPython.display import SVG, Markdown, display

from riskstrat.audit import drift, fairness, monitoring, training
from riskstrat.audit import month as month_audit
from riskstrat.audit import workspace as ws
from riskstrat.config import load_settings
from riskstrat.core.months import add_months
from riskstrat.core.workspace import output_months
from riskstrat.model import registry
from riskstrat.model.evaluation import held_out_frame
from riskstrat.model.labels import outcome_labeller

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 30)
pd.set_option("display.float_format", lambda x: f"{x:.4g}")

workspace = Path(WORKSPACE)
settings = load_settings(workspace)
months = output_months(workspace)
assert months, f"{workspace / 'outputs'}: no scored month yet; run `riskstrat score` first"
MONTH = MONTH or months[-1]
scores = ws.read_scores(workspace, MONTH, LIST)
MODEL_ID = MODEL_ID or ws.scoring_model_id(workspace, MONTH, scores, LIST)
model = registry.load_model(workspace, MODEL_ID, spec=LIST)
explanations = ws.read_explanations(workspace, MONTH, LIST)
display(Markdown(
    f"**Month** {MONTH} · **list** {LIST} · **model** `{model.model_id}` · **label** {model.design.label_definition} · "
    f"**children scored** {len(scores):,} · **flagged** {int(scores['flagged'].sum()):,}"
))

# %% [markdown]
# ## 1. Performance on the model's test months
#
# From the registry (`metrics.json`): the test months were never used to fit or calibrate the
# model. Baselines beside it; on a synthetic plan also the oracle (the true risk).

# %%
rows = []
for name in ("model", "logistic", "rules", "oracle"):
    m = model.metrics.get(name)
    if m:
        rows.append({"model": name, "AUROC": m.get("auroc"), "AUPRC": m.get("auprc"), "Brier": m.get("brier"),
                     "ECE": m.get("ece"), "lift top 1%": m.get("top", {}).get("0.01", {}).get("lift"),
                     "PPV at capacity": m.get("capacity", {}).get("ppv")})
display(pd.DataFrame(rows).set_index("model"))

# %% [markdown]
# ## 2. Calibration
#
# A score of 0.2 should mean about 1 in 5. Points on the diagonal are well calibrated; above it
# the model under-predicts.

# %%
cal = pd.DataFrame(model.metrics["model"]["calibration"])
fig, ax = plt.subplots(figsize=(4.8, 4.2))
top = float(max(cal["mean_predicted"].max(), cal["observed_rate"].max()) * 1.05)
ax.plot([0, top], [0, top], color="grey", linewidth=0.8)
ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o")
ax.set_xlabel("mean predicted (test months, tenths)")
ax.set_ylabel("observed rate")
ax.set_title(f"ECE {model.metrics['model']['ece']:.4f}")
plt.show()

# %% [markdown]
# ## 3. This month's scores

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.hist(scores["score"], bins=50, log=True)
cut = scores.loc[scores["flagged"] == 1, "score"].min()
ax.axvline(cut, color="red", linewidth=1, label=f"flag cut {cut:.3f}")
ax.set_xlabel("calibrated probability")
ax.set_ylabel("children (log)")
ax.legend()
plt.show()

# %% [markdown]
# ## 4. SHAP: what drives the scores of flagged children
#
# Exact TreeSHAP values from `explanations.parquet` (in log-odds). These cover the children the
# month explained — at least every flagged child — so they describe the top of the list, not
# the whole plan.

# %%
shap_values, feature_values = ws.shap_matrices(explanations, model.feature_names)
shap.summary_plot(shap_values.to_numpy(), feature_values, max_display=15, show=False)
plt.title(f"SHAP summary, {len(shap_values):,} explained children")
plt.show()

# %% [markdown]
# Dependence plots for the three features with the largest mean |SHAP|: how the contribution
# changes with the child's value.

# %%
top_features = shap_values.abs().mean().sort_values(ascending=False).index[:3]
for feature in top_features:
    shap.dependence_plot(feature, shap_values.to_numpy(), feature_values, interaction_index=None, show=False)
    plt.show()

# %% [markdown]
# ## 5. Fairness
#
# ### 5a. On the test months, where outcomes are known
#
# Computed when the model was trained and stored beside it (`fairness.json`, what the card
# shows): the children held out for testing, scored with this model, flagged as deep into the
# list as the monthly capacity goes, and judged by group with 95% intervals. Groups under
# `MIN_GROUP_N` children are marked too small, not hidden. A model registered before riskstrat
# stored fairness has its test months rebuilt from the lake instead.

# %%
if model.fairness and model.fairness.get("available"):
    table, need_checks = training.fairness_frame(model.fairness), training.need_checks(model.fairness)
else:
    test = held_out_frame(workspace, model, settings)
    table = fairness.fairness_table(test, fairness.GROUP_COLUMNS)
    need_measures = [m for m in training.NEED_MEASURES if m in test]
    need_checks = [fairness.need_at_equal_score(test, a, need_measures) for a in training.NEED_ATTRIBUTES]
display(table[["attribute", "group", "n", "too_small", "share", "flag_rate", "flag_rate_lo", "flag_rate_hi",
               "outcome_rate", "mean_predicted", "oe_ratio", "oe_ratio_lo", "oe_ratio_hi",
               "tpr", "tpr_lo", "tpr_hi", "ppv", "ppv_lo", "ppv_hi"]])

# %% [markdown]
# The largest gaps, in words:

# %%
display(Markdown("\n".join(f"- {line}" for line in fairness.largest_gaps(table))))

# %% [markdown]
# ### 5b. Obermeyer et al. (2019): at the same score, do some children carry more need?
#
# Within each score decile, the realised outcome and the count of chronic-condition groups per
# group. A line above the reference group's means those children are sicker at the same score.

# %%
for check in need_checks:
    display(check.summary)
    display(Markdown("\n".join(f"- {line}" for line in fairness.describe_need_gaps(check))))
    display(SVG(fairness.need_plot_svg(check, check.measures[-1])))

# %% [markdown]
# ### 5c. This month's flags by group (outcomes not yet known)

# %%
month_frame = scores.merge(ws.month_groups(workspace, MONTH, scores if "age" in scores else None),
                           on="person_id", how="left")
month_table = fairness.fairness_table(month_frame, fairness.GROUP_COLUMNS, outcome=None)
display(month_table[["attribute", "group", "n", "too_small", "share", "flag_rate", "flag_rate_lo", "flag_rate_hi",
                     "mean_predicted"]])
display(Markdown("\n".join(f"- {line}" for line in fairness.largest_gaps(month_table))))

# %% [markdown]
# ## 6. Drift
#
# Population stability index of every feature and of the score: against the model's training
# rows (`drift_reference.json`; for a model without one, its last training month rebuilt from the
# lake) and against last month. Thresholds: `audit.psi_warn` and `audit.psi_alert` in
# riskstrat.toml (0.1 and 0.25 by default); moderate and major shifts raise a warning.

# %%
current = ws.scored_features(workspace, MONTH, model, settings, scores)
columns = [*model.feature_names, "score"]
bands = month_audit.bands(settings)
tables = [month_audit.training_drift(model, current[columns], settings, as_of=MONTH)]
if tables[0] is None:
    reference_month = model.design.train_months[-1]
    reference = ws.scored_features(workspace, reference_month, model, settings)
    tables = [drift.psi_table(reference, current, columns, against=f"training ({reference_month})", bands=bands)]
last = add_months(MONTH, -1)
if last in months:
    previous = ws.scored_features(workspace, last, model, settings, ws.read_scores(workspace, last, LIST))
    tables.append(drift.psi_table(previous, current, columns, against=f"last month ({last})", bands=bands))
psi = pd.concat(tables, ignore_index=True)
display(psi.head(15))
warnings = drift.drift_warnings(psi)
display(Markdown("\n".join(f"- {w}" for w in warnings) if warnings else
                 f"No feature or score drifted beyond {settings.audit.psi_warn:g}."))

# %% [markdown]
# ## 7. Monitoring: realised performance of matured months
#
# A scored month is judged once its outcome window and run-out have been delivered.

# %%
history, latest = ws.monitoring_history(workspace, model, settings, outcome_labeller(workspace, settings))
if history is None:
    display(Markdown(f"No scored month has matured yet (deliveries through {latest}; a month needs its "
                     f"{settings.model.horizon_months} outcome months and the claims run-out delivered)."))
else:
    display(history)
    display(SVG(monitoring.monitoring_plot_svg(history)))
