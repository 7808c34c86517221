"""Scoring: who is at risk this month on each list, who goes on each worklist, which programme, and why.

One list per model specification (``models/<name>.yaml``): the children its population admits,
ranked by its own model and cut at its own capacity; the combined list names each child once.

- :mod:`~riskstrat.scoring.flags`: ranks, tiers and the flags at capacity;
- :mod:`~riskstrat.scoring.suppression`: who is already served, or said no recently, for each list;
- :mod:`~riskstrat.scoring.programs`: which programmes' population rules admit a child, and why;
- :mod:`~riskstrat.scoring.explain`: exact SHAP values from the model that scored, worded as reasons;
- :mod:`~riskstrat.scoring.households`: siblings listed together;
- :mod:`~riskstrat.scoring.worklist`: the outreach team's columns, each list's and the combined list;
- :mod:`~riskstrat.scoring.month`: the month's recipe, from the lake and the registry to the tables.
"""
