"""Every module's docstring examples run and give what they show, and every module has some."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import streamalign

SUBMODULES = pkgutil.walk_packages(streamalign.__path__, prefix="streamalign.")
MODULES = ["streamalign", *sorted(info.name for info in SUBMODULES)]

#: Modules allowed to have no example, each with the reason.
EXEMPT = {
    "streamalign.io": "an empty package marker: no code to show",
    "streamalign.kernels": "an empty package marker: no code to show",
    "streamalign.kernels.cuda": "an empty package marker: no code to show",
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in EXEMPT:
        assert result.attempted == 0, f"{name} has examples now: drop it from EXEMPT"
    else:
        assert result.attempted > 0, f"{name} has no docstring example"


def test_every_exemption_names_a_module() -> None:
    assert set(EXEMPT) <= set(MODULES)
