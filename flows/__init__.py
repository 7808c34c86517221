"""Prefect flows for riskstrat: each one only wires riskstrat library functions as tasks.

``monthly`` is the scheduled job; ``ingest``, ``train`` and ``score`` are the on-demand stages.
Deployments are declared in ``prefect.yaml`` at the repository root (docs/orchestration.md).
"""
