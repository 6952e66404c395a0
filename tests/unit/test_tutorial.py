"""The documentation's Python tutorial runs as written (``docs/tutorial.py``)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import medselect

TUTORIAL = Path(medselect.__file__).parents[2] / "docs" / "tutorial.py"


@pytest.mark.skipif(not TUTORIAL.is_file(), reason="docs/ is not beside the installed package")
def test_the_tutorial_runs(capsys):
    runpy.run_path(str(TUTORIAL), run_name="__main__")
    out = capsys.readouterr().out
    assert "external:exact" in out and "per site:" in out
