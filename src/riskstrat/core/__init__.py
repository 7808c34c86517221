"""What every stage may use: months, errors, fingerprints, atomic writes, progress, plots, the capacity pick.

Nothing here knows about a stage; every stage may import it. It imports no other part of riskstrat.
"""
