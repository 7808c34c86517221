"""Prefect flows for riskstrat: each one only wires riskstrat library functions as tasks.

``monthly`` is the scheduled job; ``ingest``, ``train`` and ``score`` are the on-demand stages, and
``evaluate`` the programme evaluation.
This folder sits at the top of the source tree and ships inside the wheel as ``riskstrat.flows``
(pyproject.toml maps it there). The library never imports it; the command line imports
``monthly`` for ``riskstrat monthly``. Deployments are declared in
``prefect.yaml`` at the repository root, or served with ``python -m riskstrat.flows.serve``
(docs/orchestration.md).
"""
