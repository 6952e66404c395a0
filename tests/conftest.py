"""Fixtures shared by every test folder: tiny phantom data, tiny experiments, a CLI runner."""

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


CLASSES = "[background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]"


def tiny_experiment(folder: Path, *, space: str, name: str = "tiny", extra: str = "") -> Path:
    """Write an experiment YAML training ``space`` on a 16-case 32x32 phantom."""
    path = folder / f"{name}.yaml"
    path.write_text(f"""
task: {{name: knee, kind: segmentation, spatial_dims: 2, classes: {CLASSES}}}
data: {{source: {{kind: phantom, cases_per_site: 4, size: 32, seed: 0}}}}
sweep:
  name: {name}
  strategy: grid
  space: {{{space}, batch_size: 4, input_size: [32, 32], depth: 2, features: 8}}
  workers: 2
  threads_per_worker: 1
{extra}""")
    return path


@pytest.fixture(scope="session")
def write_tiny_experiment():
    """:func:`tiny_experiment`, for fixtures of any scope."""
    return tiny_experiment


@pytest.fixture
def experiment_file(tmp_path):
    return lambda **kw: tiny_experiment(tmp_path, **kw)
