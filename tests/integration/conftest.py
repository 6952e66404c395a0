"""A workspace with champions, trained once for the tests of prediction, export and cards."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from medselect.store import Workspace, list_runs

EXPERIMENT = """
task: {name: knee, kind: segmentation, spatial_dims: 2,
       classes: [background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]}
data: {source: {kind: phantom, cases_per_site: 10, sites: 2, size: 32, seed: 0}}
sweep:
  name: champions
  space: {architecture: unet, loss: dice_ce, epochs: [1, 4], batch_size: 4,
          input_size: [16, 16], depth: 2, features: 8}
  workers: 1
  threads_per_worker: 1
evaluation: {metrics: [dice, hd95], overlays: true}
promotion: {primary: {metric: dice, margin: 0.0}, guards: [{metric: hd95, margin: 5.0}],
            min_patients: 1}
"""


@dataclass(frozen=True)
class Champions:
    """The workspace: ``weak`` (1 epoch) is the global champion, ``strong`` (4 epochs) the
    champion of site ``site-b``; site ``site-a`` has none. The network's input is 16x16, the
    phantom's images 32x32, so every prediction is resized there and back."""

    root: Path
    experiment: Path
    weak: str
    strong: str

    @property
    def ws(self) -> Path:
        return self.root / "ws"


@pytest.fixture(scope="session")
def champions(tmp_path_factory) -> Champions:
    import medselect as ms

    root = tmp_path_factory.mktemp("champions")
    experiment = root / "champions.yaml"
    experiment.write_text(EXPERIMENT)
    ws = ms.open_workspace(root / "ws", create=True)
    ms.run_sweep(ws, experiment, executor="inprocess")
    with ws.connect() as conn:
        runs = {r["config"]["epochs"]: r["id"] for r in list_runs(conn, status="finished")}
    for run, scope in ((runs[1], "global"), (runs[4], "site:site-b")):
        outcome = ms.promote(ws, run, scope=scope, experiment=experiment, actor="alice")
        assert outcome.promoted, outcome.decision.summary
    ws.dispose()
    return Champions(root, experiment, weak=runs[1], strong=runs[4])


@pytest.fixture
def champions_ws(champions):
    """The champions' workspace, opened (read it, do not change it)."""
    ws = Workspace.open(champions.ws)
    yield ws
    ws.dispose()
