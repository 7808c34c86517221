"""What every stage may use: months, the workspace's folders, errors, fingerprints, atomic writes,
progress, plots, SQL helpers and the one ranking rule and capacity pick.

Nothing here knows about a stage; every stage may import it. It imports no other part of riskstrat.
"""
