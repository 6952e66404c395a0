"""`medselect evaluate` end to end: two tiny trained runs and an external model on the test set."""

from __future__ import annotations

import json

import pytest

from medselect.data.readers import read_image
from medselect.data.writers import write_image
from medselect.metrics import MEAN_LABEL
from medselect.rank import leaderboard
from medselect.store import Workspace, case_metric_table, case_set_members, get_predictions

pytestmark = pytest.mark.slow

FOREGROUND = ["femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]


def test_evaluate_runs_and_external_predictions(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: [unet, basic_unet], loss: [dice_ce], epochs: 1")
    ws_dir = tmp_path / "ws"
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr

    first = run_cli("evaluate", exp, "-w", ws_dir)
    assert first.code == 0, first.stderr
    assert "mean dice" in first.stdout and "finished" in first.stdout
    again = json.loads(run_cli("evaluate", exp, "-w", ws_dir, "--json").stdout)
    assert [m["status"] for m in again["models"]] == ["reused", "reused"]
    runs = [m["model_ref"] for m in again["models"]]

    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        members = case_set_members(conn, again["case_set"])
        table = case_metric_table(conn, case_set=again["case_set"])
        predictions = {m["model_ref"]: get_predictions(conn, m["evaluation_id"])
                       for m in again["models"]}
    assert again["case_set_kind"] == "test" and len(members) == again["n_cases"] > 0
    for metric in ("dice", "hd95"):
        rows = table[table["metric"] == metric]
        expected = {(run, m["case_id"], label) for run in runs for m in members
                    for label in [*FOREGROUND, MEAN_LABEL]}
        assert set(zip(rows["model"], rows["case_id"], rows["label"], strict=True)) == expected
    dice = table[table["metric"] == "dice"]["value"]
    assert dice.between(0, 1).all()
    for rows in predictions.values():
        for member, row in zip(members, rows, strict=True):
            assert row["status"] == "ok"
            saved = read_image(ws.path(row["prediction_uri"]), kind="label")
            image = read_image(ws.path(member["image_uris"][0]))
            assert saved.shape == image.shape and saved.spacing == image.spacing
            for uri in (row["overlay_uri"], row["thumbnail_uri"]):
                assert ws.path(uri).read_bytes()[:4] == b"\x89PNG"

    forced = json.loads(run_cli("evaluate", exp, "-w", ws_dir, "--runs", runs[0], "--force",
                                "--json").stdout)
    assert [(m["model_ref"], m["status"]) for m in forced["models"]] == [(runs[0], "finished")]
    assert forced["models"][0]["evaluation_id"] == again["models"][0]["evaluation_id"]

    folder = tmp_path / "nnunet_out"  # perfect masks, one case left out
    for member in members[1:]:
        label = read_image(ws.path(member["label_uri"]), kind="label")
        write_image(label, folder / f"{member['case_id']}.png")
    external = run_cli("evaluate", "-w", ws_dir, "--predictions", folder, "--name", "perfect",
                       "--json")
    assert external.code == 0, external.stderr
    [outcome] = json.loads(external.stdout)["models"]
    assert (outcome["model_ref"], outcome["n_missing"], outcome["n_ok"]) == (
        "external:perfect", 1, len(members) - 1)
    assert outcome["key_value"] == pytest.approx(1.0)
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set=again["case_set"])
    ranked = leaderboard(table, "dice", "higher", worst=0.0)
    rows = {row.model: row for row in ranked.rows}
    assert set(rows) == {*runs, "external:perfect"}
    assert rows["external:perfect"].n_imputed == 1  # the missing case counts, as the worst
    ws.dispose()
