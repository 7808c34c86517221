"""Every public function and class of the model stage says what it is for."""

import inspect

import pytest

from riskstrat import card, design, evaluate, registry, train

MODULES = (design, train, evaluate, registry, card)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_public_names_have_docstrings(module):
    assert module.__doc__
    undocumented = [name for name, obj in vars(module).items()
                    if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                    and obj.__module__ == module.__name__ and not inspect.getdoc(obj)]
    assert undocumented == []
