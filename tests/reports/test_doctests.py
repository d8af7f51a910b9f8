"""Run the examples in the reports package's docstrings (``testpaths`` omits ``reports/``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "reports._bootstrap",
    "reports.breakdowns",
    "reports.ranking",
    "reports._verdict",
]


@pytest.mark.parametrize("name", MODULES, ids=MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
