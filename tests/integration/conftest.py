"""Tiny end-to-end experiments: 32x32 knee phantoms, a few epochs, small networks."""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture
def experiment_file(tmp_path):
    return lambda **kw: tiny_experiment(tmp_path, **kw)
