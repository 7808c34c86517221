"""The model: study design, outcome labels, training, evaluation, the registry and the model card.

- :mod:`~riskstrat.model.design`: which months and which children each side of a model uses;
- :mod:`~riskstrat.model.labels`: the outcomes (what a model predicts), from the same concepts as the features;
- :mod:`~riskstrat.model.train`: split, fit, calibrate, judge, register;
- :mod:`~riskstrat.model.evaluation`: the model beside its baselines and the oracle; the promotion gate;
- :mod:`~riskstrat.model.registry`: ``W/models/<id>/``, verified on every load, and the champion;
- :mod:`~riskstrat.model.card`: the model card (the 31 HTI-1 source attributes).

The declared model specification (outcome, horizon, look-back, hyperparameters, capacity) is a file
in the top-level ``models/`` folder, read by :mod:`riskstrat.config`.
"""
