"""A synthetic Medicaid plan whose children carry a known, exact risk.

``generate_plan(workspace, PlanSpec(...))`` writes monthly extract deliveries in the layout of
``inputs.md`` into ``workspace/landing/`` and the hidden truth into ``workspace/truth/``.
Stages, in data-flow order: :mod:`population` (households, enrolment), :mod:`latent` (the
health chain and its exact outcome probability), :mod:`encounters` and :mod:`pharmacy`
(what the claims show), :mod:`programs` (care management, screenings), :mod:`defects`
(bad input) and :mod:`writer` (files). See docs/synthetic_plan.md.
"""

from riskstrat.synth.plan import PlanError, generate_plan
from riskstrat.synth.spec import PlanSpec, PlanSummary

__all__ = ["PlanSpec", "PlanSummary", "PlanError", "generate_plan"]
