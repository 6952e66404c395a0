"""Online schedules and the prepared-case cache, end to end from the experiment file and CLI:
each run records its schedule per epoch, and the sweep's runs share one preparation."""

from __future__ import annotations

import json

import pytest

from medselect.store import Workspace, get_epoch_metrics, list_runs

pytestmark = pytest.mark.slow


def test_schedules_are_recorded_per_epoch_and_the_runs_share_prepared_cases(
        run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: unet, loss: dice_ce, epochs: 3, "
                                "scheduler: cosine, warmup_epochs: [null, 1], "
                                "learning_rate: 0.01, augmentation: light, "
                                "augmentation_ramp: 2")
    ws_dir = tmp_path / "ws"
    result = run_cli("sweep", "run", exp, "-w", ws_dir, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"finished": 2}
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = {r["config"].get("warmup_epochs"): r for r in list_runs(conn, sweep="tiny")}
        curves = {w: {(e["epoch"], e["name"]): e["value"]
                      for e in get_epoch_metrics(conn, r["id"])} for w, r in runs.items()}
    version = runs[None]["dataset_version"]
    ws.dispose()
    assert runs[1]["config"]["augmentation_ramp"] == 2  # the schedule is part of the config
    lr = {w: [curves[w][(e, "learning_rate")] for e in (1, 2, 3)] for w in curves}
    assert lr[None] == pytest.approx([0.01, 0.0075, 0.0025])  # cosine over 3 epochs
    assert lr[1] == pytest.approx([0.005, 0.01, 0.005])  # warm-up, then cosine over 2
    for curve in curves.values():
        assert [curve[(e, "augmentation_strength")] for e in (1, 2, 3)] == [0.5, 1.0, 1.0]
    # both runs prepared their cases through one folder of the cache: one entry per case
    folders = list((ws_dir / "cache" / version).iterdir())
    assert len(folders) == 1 and len(list(folders[0].glob("*.pt"))) > 0
