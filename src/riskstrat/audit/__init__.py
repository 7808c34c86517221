"""The audit: how good is a score, is it fair, is it still working? (docs/audit.md)

- :mod:`riskstrat.audit.performance` — discrimination, calibration and what the flags at capacity
  find, for the backtest and for monitoring alike.
- :mod:`riskstrat.audit.fairness` — per-group share, flag rate, outcome rate, calibration,
  TPR and PPV with intervals; the largest gaps in words; the Obermeyer need-at-equal-score check.
- :mod:`riskstrat.audit.drift` — population stability index per feature and for the score.
- :mod:`riskstrat.audit.monitoring` — realised AUROC, calibration and PPV of matured months.
- :mod:`riskstrat.audit.training` — what a model carries from training: fairness on its test
  months and a drift reference.
- :mod:`riskstrat.audit.month` — one scoring month's drift, fairness and monitoring.
- :mod:`riskstrat.audit.workspace` — the frames above, read from ``outputs/`` and the lake.

The audit comes before the model and scoring stages, which use it; what it needs from them is
handed in (the model as an object, outcome labels as a function). The checks in ``performance``,
``fairness``, ``drift`` and ``monitoring`` are plain functions over frames with no I/O; ``workspace``,
``training`` and ``month`` read the lake and published outputs. Nothing happens at import
beyond the imports themselves.
"""

from riskstrat.audit.drift import PSI_THRESHOLDS, drift_warnings, profile, psi, psi_table
from riskstrat.audit.fairness import (
    GROUP_COLUMNS,
    MIN_GROUP_N,
    NeedCheck,
    audit_groups,
    fairness_table,
    largest_gaps,
    need_at_equal_score,
    need_plot_svg,
)
from riskstrat.audit.monitoring import matured_month_metrics, month_metrics, track

__all__ = [
    "GROUP_COLUMNS", "MIN_GROUP_N", "NeedCheck", "PSI_THRESHOLDS", "audit_groups", "drift_warnings",
    "fairness_table", "largest_gaps", "matured_month_metrics", "month_metrics", "need_at_equal_score",
    "need_plot_svg", "profile", "psi", "psi_table", "track",
]
