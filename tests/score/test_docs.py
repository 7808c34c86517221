"""Every public function and class of the scoring modules says what it does."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = ("riskstrat.score", "riskstrat.explain", "riskstrat.programs", "riskstrat.publish", "riskstrat.report")


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_are_documented(name):
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip()
    missing = [
        attr for attr, obj in vars(module).items()
        if not attr.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == name and not (obj.__doc__ or "").strip()
    ]
    assert not missing, f"{name}: undocumented {missing}"
