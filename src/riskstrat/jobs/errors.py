"""The monthly job's errors: each stops a run with one line naming the step's reason."""

from __future__ import annotations

from riskstrat.core.errors import RiskstratError


class MonthlyError(RiskstratError):
    """The monthly job cannot go on; the message is one line naming the step's reason."""


class DeliveryRefused(MonthlyError):
    """The month's delivery broke a delivery rule: the run stops with that delivery's reason."""


class MonthBusy(MonthlyError):
    """Another run of the same month holds its lock."""
