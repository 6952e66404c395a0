"""Fixtures shared by every test folder: tiny phantom data, tiny experiments, a CLI runner."""

from __future__ import annotations

import sys
from collections.abc import Mapping
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


PLUGIN_MODULE = "fake_medselect_plugin"
PLUGIN_SOURCE = '''
"""A third-party task kind: keypoints drawn as small label blobs, so segmentation's family."""
from medselect.tasks import SegmentationPlugin


class KeypointPlugin(SegmentationPlugin):
    kind = "keypoints"
    losses = ("dice_focal", "dice")


class LandmarkFamilyPlugin(SegmentationPlugin):
    kind = "pointmaps"
    family = "landmarks"


NotAPlugin = object()
'''


@pytest.fixture
def install_task_plugins(tmp_path, monkeypatch):
    """Install a fake distribution whose ``medselect.tasks`` entry points are the given
    ``name -> "module:object"`` lines (:data:`PLUGIN_MODULE` holds the plugin classes)."""
    from medselect.tasks import ENTRY_POINT_GROUP

    def install(entry_points: Mapping[str, str]) -> None:
        site = tmp_path / "site-packages"
        site.mkdir()
        (site / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
        info = site / "fake_medselect_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-medselect-plugin\n"
                                       "Version: 0.1\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
        monkeypatch.syspath_prepend(str(site))

    yield install
    sys.modules.pop(PLUGIN_MODULE, None)  # the next test imports its own copy


@pytest.fixture
def keypoints_kind(install_task_plugins) -> str:
    """A third-party ``keypoints`` kind of the segmentation family, installed; its name."""
    install_task_plugins({"keypoints": f"{PLUGIN_MODULE}:KeypointPlugin"})
    return "keypoints"
