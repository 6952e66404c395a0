"""`medselect evaluate` end to end: two tiny trained runs and an external model on the validation
set (which selects) and the test set (which confirms)."""

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
    selects = first.stdout.index("(val, ")
    assert "selects the model" in first.stdout[selects:first.stdout.index("(test, ")]
    assert "confirms the choice" in first.stdout[first.stdout.index("(test, "):]
    both = json.loads(run_cli("evaluate", exp, "-w", ws_dir, "--json").stdout)
    assert [(r["name"], r["case_set_kind"]) for r in both["reports"]] == [
        ("val", "val"), ("test", "test")]
    val, again = both["reports"]
    assert [m["status"] for r in both["reports"] for m in r["models"]] == ["reused"] * 4
    runs = [m["model_ref"] for m in again["models"]]
    assert [m["model_ref"] for m in val["models"]] == runs and val["n_cases"] > 0

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
                                "--cases", "test", "--json").stdout)
    [report] = forced["reports"]
    assert [(m["model_ref"], m["status"]) for m in report["models"]] == [(runs[0], "finished")]
    assert report["models"][0]["evaluation_id"] == again["models"][0]["evaluation_id"]

    folder = tmp_path / "nnunet_out"  # perfect masks, one case left out
    for member in members[1:]:
        label = read_image(ws.path(member["label_uri"]), kind="label")
        write_image(label, folder / f"{member['case_id']}.png")
    external = run_cli("evaluate", "-w", ws_dir, "--predictions", folder, "--name", "perfect",
                       "--json")
    assert external.code == 0, external.stderr
    on_val, on_test = json.loads(external.stdout)["reports"]
    [missing] = on_val["models"]  # no prediction for a validation case: every one missing
    assert missing["n_missing"] == on_val["n_cases"] and missing["n_ok"] == 0
    [outcome] = on_test["models"]
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
