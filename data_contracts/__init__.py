"""The data contracts (ODCS v3, one ``<table>.yaml`` per delivered table), shipped inside the wheel.

This file only makes the folder a package, so that ``riskstrat.data_contracts`` finds the YAML
files both in a source checkout and in an installed wheel (pyproject.toml maps the folder there).
"""
