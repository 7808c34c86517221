"""Reasons in plain language: a child's value of a feature, worded from its declaration.

"3 ED visits in the last 6 months", "Suicidal ideation recorded in the last 12 months": the text
an outreach worker reads beside each flag, in the worklist and the programme match.
"""

from __future__ import annotations

import math

from riskstrat.features.declarations import Feature, get_feature


def _format_value(feature: Feature, value: float) -> str:
    if feature.kind == "amount":
        return f"{'-' if value < 0 else ''}${abs(value):,.0f}"
    if feature.kind == "rate":
        return f"{value:.2f}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}"


def reason_text(feature_name: str, value: float | int | None) -> str:
    """The plain-language reason for a child's value of a feature, e.g. "3 ED visits in the last 6 months"."""
    feature = get_feature(feature_name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{feature.description.rstrip('.')}: not known"
    value = float(value)
    if feature.kind == "flag":
        if value >= 0.5:
            return feature.reason
        return feature.reason_absent or "No " + feature.reason[0].lower() + feature.reason[1:]
    plural = "" if value == 1 else "s"
    template = feature.reason
    if feature.value_words:
        words = dict(feature.value_words).get(round(value), _format_value(feature, value))
        return template.format(words=words, window=feature.window_months)
    if "{value:" in template:  # the template formats the number itself
        return template.format(value=value, s=plural, es="" if value == 1 else "es", window=feature.window_months)
    return template.format(value=_format_value(feature, value), s=plural, es="" if value == 1 else "es",
                           window=feature.window_months)
