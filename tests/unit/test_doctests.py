"""The docstring examples of the table contract, the config, the metrics and rank run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import medselect

PACKAGES = ("medselect.config", "medselect.metrics", "medselect.rank")


def modules() -> list[str]:
    names = ["medselect.casetable", "medselect.jsonsafe"]
    for package in PACKAGES:
        names.append(package)
        found = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(found)]
    return names


@pytest.mark.parametrize("name", modules())
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(medselect.__file__.rsplit("/src/", 1)[0])  # examples/ paths resolve
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples fail"


def test_the_examples_are_found():
    found = sum(doctest.testmod(importlib.import_module(n), report=False).attempted
                for n in modules())
    assert found >= 15
