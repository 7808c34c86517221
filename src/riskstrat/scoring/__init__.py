"""Scoring: who is at risk this month, who goes on the worklist, which programme, and why.

- :mod:`~riskstrat.scoring.flags`: ranks, tiers and the flags at capacity;
- :mod:`~riskstrat.scoring.suppression`: who is already served, or said no recently;
- ``programs.yaml`` / :mod:`~riskstrat.scoring.programs`: which programme matches, by declared rules;
- :mod:`~riskstrat.scoring.explain`: exact SHAP values from the model that scored, worded as reasons;
- :mod:`~riskstrat.scoring.households`: siblings listed together;
- :mod:`~riskstrat.scoring.worklist`: the outreach team's columns;
- :mod:`~riskstrat.scoring.month`: the month's recipe, from the lake and the registry to the tables.
"""
