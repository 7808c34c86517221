"""A small synthetic plan, most of its deliveries ingested, for the tests that run months on it (see conftest.py).

Ingesting 18 months of a small plan takes most of a minute (Great Expectations' work per table
and month); the monthly-flow tests and the wheel test each paid it apart before they shared this.
"""

from pathlib import Path

#: The plan's last delivery, and the last one already in its lake.
END, INGESTED = "2025-11", "2025-08"

# The smallest design the stages accept: a 12-month look-back (the longest feature window), a
# 3-month outcome, every matured month learned from and the last one tested; a 21-month plan can
# then train as of its 19th month.
SMALLEST_DESIGN = """
[model]
lookback_months = 12
horizon_months = 3
runout_months = 0
min_train_months = 2
test_months = 1
max_trees = 60
min_child_samples = 20
# Two folds and no learning curve: the fewest fits that still judge every child out of fold.
folds = 2
learning_curve_shares = []

[scoring]
capacity = 25
"""


def build_small_plan(workspace: Path) -> Path:
    """A 3,000-member, 21-month plan (a few defects) in ``workspace`` with :data:`SMALLEST_DESIGN`;
    deliveries through :data:`INGESTED` ingested, the later ones still in landing/ as if not yet read."""
    from riskstrat.config import load_settings
    from riskstrat.ingest import ingest_workspace
    from riskstrat.synth import PlanSpec, generate_plan

    generate_plan(workspace, PlanSpec(members=3000, months=21, end=END, seed=11, defect_rate=0.002))
    (workspace / "riskstrat.toml").write_text(SMALLEST_DESIGN, encoding="utf-8")
    # The later deliveries have not arrived yet: out of landing/ while the rest are ingested.
    later = workspace.parent / f"{workspace.name}-later"
    later.mkdir()
    waiting = sorted(p for p in (workspace / "landing").iterdir() if p.name > INGESTED)
    for month in waiting:
        month.rename(later / month.name)
    report = ingest_workspace(workspace, settings=load_settings(workspace))
    assert report.ok and max(report.months) == INGESTED, (report.months, report.problems())
    for month in waiting:
        (later / month.name).rename(month)
    later.rmdir()
    return workspace
