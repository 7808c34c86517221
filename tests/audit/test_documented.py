"""Every public function and class of the audit package says what it is for."""

import inspect

import pytest

from riskstrat.audit import drift, fairness, monitoring, workspace

MODULES = (fairness, drift, monitoring, workspace)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_public_names_have_docstrings(module):
    assert module.__doc__
    undocumented = [name for name, obj in vars(module).items()
                    if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                    and obj.__module__ == module.__name__ and not inspect.getdoc(obj)]
    assert undocumented == []
