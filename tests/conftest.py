"""Fixtures shared by every test folder: tiny phantom data and a CLI runner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from medselect.cli.main import main


@dataclass
class CLIResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run ``medselect ARGS`` in-process; return exit code and captured output."""

    def run(*args: str | Path) -> CLIResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return CLIResult(code, out.out, out.err)

    return run


@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory) -> Path:
    """A 32x32 knee phantom, 4 sites x 6 patients: its folder (``manifest.csv`` inside)."""
    from medselect.data.phantom import synth_knee_dataset

    folder = tmp_path_factory.mktemp("phantom32")
    synth_knee_dataset(folder, cases_per_site=6, size=32, seed=0)
    return folder
