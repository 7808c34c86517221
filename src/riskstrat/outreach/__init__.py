"""What outreach staff learn on the phone, kept in a real database and read back by the monthly job.

:mod:`riskstrat.outreach.db` opens the database (SQLite in the workspace, or any SQLAlchemy URL),
:mod:`riskstrat.outreach.log` records attempts append-only and turns them into what scoring reads,
:mod:`riskstrat.outreach.accounts` holds the web worklist's accounts and its access log.
"""
