"""3D segmentation end to end: train two tiny 3D networks on the anisotropic 3D phantom
(32x32 pixels, 16 slices twice as thick), evaluate (also with sliding windows), rank by HD95
in mm, write the static report (model pages included) and gate a promotion by HD95."""

from __future__ import annotations

import json

import pytest
from PIL import Image as PILImage

from medselect.data.readers import read_image
from medselect.metrics import MEAN_LABEL, segmentation_metrics
from medselect.store import Workspace, case_metric_table, case_set_members, get_predictions

pytestmark = pytest.mark.slow

FOREGROUND = ["femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
CLASSES = "[background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]"


def seg3d_experiment(folder):
    path = folder / "seg3d.yaml"
    path.write_text(f"""
task: {{name: knee-3d, kind: segmentation, spatial_dims: 3, classes: {CLASSES}}}
data: {{source: {{kind: phantom, cases_per_site: 3, sites: 2, size: 32, seed: 0}}}}
sweep:
  name: seg3d
  strategy: grid
  space: {{architecture: [unet, segresnet], loss: dice_ce, epochs: 1, batch_size: 2,
          input_size: [32, 32, 8], depth: 2, features: 4}}
  workers: 1
  threads_per_worker: 1
promotion: {{primary: {{metric: hd95, margin: 0}}, guards: [{{metric: dice, margin: 0.5}}],
            min_patients: 1}}
""")
    return path


def test_seg3d_train_evaluate_rank_and_report(run_cli, tmp_path):
    exp, ws_dir = seg3d_experiment(tmp_path), tmp_path / "ws"
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)["reports"][-1]  # val, then test
    assert [m["status"] for m in report["models"]] == ["finished", "finished"]

    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        members = case_set_members(conn, report["case_set"])
        table = case_metric_table(conn, case_set=report["case_set"])
        rows = get_predictions(conn, report["models"][0]["evaluation_id"])
    assert len(members) == report["n_cases"] > 0
    assert table[table["metric"] == "dice"]["value"].between(0, 1).all()
    hd95 = table[(table["metric"] == "hd95") & (table["label"] == MEAN_LABEL)]
    assert len(hd95) == 2 * len(members)
    for member, row in zip(members, rows, strict=True):
        assert row["status"] == "ok" and row["prediction_uri"].endswith(".nii.gz")
        saved = read_image(ws.path(row["prediction_uri"]), kind="label")
        image = read_image(ws.path(member["image_uris"][0]))
        assert saved.array.ndim == 3
        assert saved.shape == image.shape == (32, 32, 16)
        assert saved.spacing == pytest.approx(image.spacing)
        assert image.spacing[2] == pytest.approx(2 * image.spacing[0])  # thick slices
        with PILImage.open(ws.path(row["overlay_uri"])) as overlay:
            assert overlay.width > 2 * overlay.height  # two slices side by side
    # HD95 is in mm on the anisotropic grid: what the metrics give with the image's spacing
    member, row = members[0], rows[0]
    reference = read_image(ws.path(member["label_uri"]), kind="label")
    predicted = read_image(ws.path(row["prediction_uri"]), kind="label").array
    expected = {v.label: v.value for v in segmentation_metrics(
        predicted, reference.array, reference.spacing, FOREGROUND, metrics=["hd95"])}
    stored = table[(table["metric"] == "hd95") & (table["case_id"] == member["case_id"])
                   & (table["model"] == report["models"][0]["model_ref"])]
    assert dict(zip(stored["label"], stored["value"], strict=True)) == pytest.approx(
        expected, nan_ok=True)
    ws.dispose()

    windowed = run_cli("evaluate", exp, "-w", ws_dir, "--sliding-window", "--json")
    assert windowed.code == 0, windowed.stderr
    windowed_models = json.loads(windowed.stdout)["reports"][-1]["models"]
    assert [m["status"] for m in windowed_models] == ["finished", "finished"]
    # another inference policy, so other evaluations, not the resized ones reused
    assert not {m["evaluation_id"] for m in windowed_models} & {
        m["evaluation_id"] for m in report["models"]}

    ranked = run_cli("rank", exp, "-w", ws_dir, "--metric", "hd95", "--json")
    assert ranked.code == 0, ranked.stderr
    board = json.loads(ranked.stdout)["ranking"]["leaderboard"]
    assert (board["metric"], board["direction"]) == ("hd95", "lower")
    assert [row["rank"] for row in board["rows"]] == [1, 2]

    out = tmp_path / "report"
    written = run_cli("report", "-w", ws_dir, "--out", out, "--json")
    assert written.code == 0, written.stderr
    assert (out / "index.html").is_file()
    best, other = board["best"], board["rows"][1]["model"]
    page = (out / "models" / f"{best}.html").read_text()
    assert "hd95" in page and "dice" in page and page.count('class="thumb"') == len(members)

    first = run_cli("promote", other, "-w", ws_dir, "--experiment", exp, "--json")
    assert first.code == 0, first.stderr
    assert json.loads(first.stdout)["first_version"]
    gated = run_cli("promote", best, "-w", ws_dir, "--experiment", exp, "--json")
    decision = json.loads(gated.stdout)["decision"]
    assert gated.code == (0 if decision["accepted"] else 1), gated.stderr
    primary = next(r for r in decision["results"] if r["name"] == "primary")
    assert (primary["metric"], primary["incumbent"]) == ("hd95", other)


def test_quick_seg3d_demo_runs_every_step(run_cli, tmp_path):
    ws_dir = tmp_path / "ws"
    result = run_cli("demo", "--task", "seg3d", "-w", ws_dir, "--no-serve", "--quick")
    assert result.code == 0, result.stderr
    for step in ("1. data", "2. sweep: 4 configurations", "3. evaluation", "4. ranking",
                 "5. registry", "6. predict", "7. dashboard"):
        assert step in result.stdout
    assert "knee-seg3d-quick" in result.stdout
    assert (ws_dir / "report" / "index.html").is_file()
