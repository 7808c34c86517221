"""The audit: is the model fair, is it still working? (issue 8; docs/audit.md)

- :mod:`riskstrat.audit.fairness` — per-group share, flag rate, outcome rate, calibration,
  TPR and PPV with intervals; the largest gaps in words; the Obermeyer need-at-equal-score check.
- :mod:`riskstrat.audit.drift` — population stability index per feature and for the score.
- :mod:`riskstrat.audit.monitoring` — realised AUROC, calibration and PPV of matured months.
- :mod:`riskstrat.audit.workspace` — the frames above, read from ``outputs/`` and the lake.

The checks are plain functions over frames with no I/O; only ``workspace`` reads files.
Nothing happens at import beyond the imports themselves.
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
