"""Did a programme work? Enrolled children against matched comparisons (``riskstrat evaluate``).

:func:`evaluate_programme` is the recipe (:mod:`riskstrat.evaluation.run`); the cohort, the
matching, the estimates and the report are a module each.
"""

from riskstrat.evaluation.cohort import EvaluationError
from riskstrat.evaluation.result import Evaluation
from riskstrat.evaluation.run import FILES, evaluate_programme, evaluation_dir

__all__ = ["FILES", "Evaluation", "EvaluationError", "evaluate_programme", "evaluation_dir"]
