"""Every module's docstring examples run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import streamalign

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(streamalign.__path__, prefix="streamalign.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
