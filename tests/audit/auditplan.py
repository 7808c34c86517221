"""A small synthetic plan taken through the real pipeline, for the audit tests (see conftest.py)."""

from pathlib import Path

END, MONTHS, SCORED = "2025-11", 26, ("2025-01", "2025-02", "2025-10", "2025-11")
# Few deliveries, since each is a month to ingest: 12 months of look-back, the matured months to
# learn from and the last to test, then 6 outcome months and 3 of claims run-out (labels wait for
# the run-out; training must agree). Two folds and no learning curve: the fewest fits.
TOML = "[model]\nrunout_months = 3\ntest_months = 1\nfolds = 2\nlearning_curve_shares = []\n"


def build_scored_plan(w: Path) -> Path:
    """A 1,500-member plan in ``w``, ingested, with a champion model and four scored months (two matured)."""
    from riskstrat.config import load_settings
    from riskstrat.ingest import ingest_workspace
    from riskstrat.model.train import train_model
    from riskstrat.publish.month import score_month
    from riskstrat.synth.plan import generate_plan
    from riskstrat.synth.spec import PlanSpec

    generate_plan(w, PlanSpec(members=1500, months=MONTHS, end=END, seed=8, defect_rate=0.0))
    (w / "riskstrat.toml").write_text(TOML)
    settings = load_settings(w)
    ingest_workspace(w, settings=settings.ingest)
    train_model(w, END, settings, promote=True)
    for month in SCORED:
        score_month(w, month, settings)
    return w


