"""A classification experiment: train two image-level models on the phantom's thinning grade.

Evaluation of classification runs is not implemented yet; this covers training only.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def classification_experiment(folder):
    path = folder / "classification.yaml"
    path.write_text("""
task: {name: knee-thinning, kind: classification, spatial_dims: 2, classes: [normal, thinning]}
data: {source: {kind: phantom, cases_per_site: 4, size: 32, seed: 0}}
sweep:
  name: cls
  strategy: grid
  space: {architecture: [resnet18, densenet121], loss: ce, epochs: 1, batch_size: 4,
          input_size: [32, 32], features: 4}
  workers: 1
  threads_per_worker: 1
""")
    return path


def test_classification_trains_two_networks(run_cli, tmp_path):
    exp, ws_dir = classification_experiment(tmp_path), tmp_path / "ws"
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout
    report = json.loads(trained.stdout)
    assert report["counts"] == {"finished": 2} and report["total"] == 2
