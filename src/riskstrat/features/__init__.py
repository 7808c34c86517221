"""Features: what the plan knew about each child at an as-of month, declared once.

- ``declarations.yaml`` / :mod:`~riskstrat.features.declarations`: every feature, one entry each;
- ``concepts/*.sql`` / :mod:`~riskstrat.features.concept_sql`: the clinical rules, one per file;
- ``codesets/``: the code sets those rules join to, as versioned files with their sources;
- :mod:`~riskstrat.features.build`: the feature table of a month, and the eligibility span at T;
- :mod:`~riskstrat.features.reasons`: a feature's value worded as a reason;
- :mod:`~riskstrat.features.catalogue`: docs/features.md, generated from the declarations.
"""

from riskstrat.features.build import FeatureError, build_features, eligibility_at
from riskstrat.features.declarations import FEATURES, Feature, feature_names, get_feature
from riskstrat.features.reasons import reason_text

__all__ = ["FEATURES", "Feature", "FeatureError", "build_features", "eligibility_at", "feature_names", "get_feature",
           "reason_text"]
