"""The declared model specifications (one YAML file each), shipped inside the wheel.

This file only makes the folder a package, so that ``riskstrat.model_specs`` finds the YAML files
both in a source checkout and in an installed wheel. pyproject.toml maps the folder there, under
a name that cannot be mistaken for ``riskstrat.model``, the modelling code. Trained models are not
here: they live in each workspace's ``models/`` registry.
"""
