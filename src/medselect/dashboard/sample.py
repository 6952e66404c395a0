"""A small, fully evaluated workspace written straight into the store: a test double.

Tests, browser tests and the dashboard benchmark build the dashboard's input with it instead of
training models: a segmentation task with cases over several sites, finished runs with epoch
metrics and their augmentation preset spelled out, one failed run, an evaluation per run with
Dice and HD95 per class and their mean, one missing prediction, overlay PNGs and a champion in
the registry. Model ``run-001`` has stray false-positive blobs on every fourth case: good Dice,
poor HD95, so ranking by HD95 orders the models differently from ranking by Dice.

Example::

    ws = build_sample_workspace(tmp_path / "ws")           # 3 models x 12 cases, 2 sites
    ws = build_sample_workspace(path, n_models=200, n_cases=2000, overlays="shared")
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from medselect.store import (
    Workspace,
    add_case_set,
    add_dataset_version,
    add_epoch_metrics,
    put_evaluation,
    put_task,
    replace_case_metrics,
    replace_predictions,
    set_run_status,
    upsert_run,
)
from medselect.store.schema import model_version

TASK = "knee"
CASE_SET = "cs-test"
VERSION = "dv-sample"
CLASSES = ("femur", "tibia")
ARCHITECTURES = ("unet", "segresnet", "attention_unet", "basic_unet")
LOSSES = ("dice_ce", "dice", "dice_focal")
AUGMENTATIONS = ("light", "strong", "none", "intensity")
_FLIP = {"transform": "RandFlipd", "keys": ["image", "label"], "spatial_axis": 0, "prob": 0.5}
_SCALE = {"transform": "RandScaleIntensityd", "keys": ["image"], "factors": 0.1, "prob": 0.3}
_NOISE = {"transform": "RandGaussianNoised", "keys": ["image"], "std": 0.05, "prob": 0.2}
PRESET_CONTENTS = {
    "light": [_FLIP, {"transform": "RandRotated", "keys": ["image", "label"],
                      "mode": ["bilinear", "nearest"], "range_x": 0.1745, "prob": 0.3}, _SCALE],
    "strong": [_FLIP, {"transform": "RandAffined", "keys": ["image", "label"],
                       "mode": ["bilinear", "nearest"], "scale_range": [0.1, 0.1],
                       "shear_range": [0.1, 0.1], "prob": 0.3}, _SCALE, _NOISE],
    "none": [],
    "intensity": [_SCALE, {"transform": "RandAdjustContrastd", "keys": ["image"],
                           "gamma": [0.7, 1.5], "prob": 0.3}, _NOISE],
}
"""What the sweep records in ``run.details["augmentation_preset"]`` (as
``medselect.train.augment.describe_preset`` writes it; spelled out here to stay torch-free)."""
STRAY_BLOB_MODEL, STRAY_BLOB_EVERY, STRAY_BLOB_MM = 1, 4, 15.0
FAILED_ERROR = "CUDA out of memory while allocating 2.00 GiB (batch_size 64); lower batch_size"
THUMB_SIDE = 24


def run_ref(i: int) -> str:
    return f"run-{i:03d}"


def case_name(i: int) -> str:
    return f"case-{i:04d}"


def build_sample_workspace(
    root: str | os.PathLike[str],
    *,
    n_models: int = 3,
    n_cases: int = 12,
    sites: tuple[str, ...] = ("north", "south"),
    n_failed: int = 1,
    epochs: int = 3,
    overlays: Literal["per-case", "shared"] = "per-case",
    seed: int = 0,
) -> Workspace:
    """Create the workspace at ``root`` and fill it; return it open (dispose it when done).

    Model ``run-000`` is the best and the global champion; the last model has no prediction
    for the last case (its metrics are NaN), so imputation shows. ``overlays="shared"`` writes
    one overlay for all predictions (fast, for large benchmarks); ``"per-case"`` one PNG each.
    """
    rng = np.random.default_rng(seed)
    ws = Workspace.create(root)
    cases = [case_name(i) for i in range(n_cases)]
    case_site = {c: sites[i % len(sites)] for i, c in enumerate(cases)}
    with ws.begin() as conn:
        put_task(conn, TASK, "segmentation", {"labels": list(CLASSES)})
        add_dataset_version(conn, {"id": VERSION, "task": TASK, "description": "sample"}, [
            {"case_id": c, "patient_id": f"p-{c}", "site": case_site[c], "split": "test",
             "image_uris": [f"images/{c}.png"], "label_uri": f"labels/{c}.png",
             "content_hash": f"h-{c}"} for c in cases])
        add_case_set(conn, {"id": CASE_SET, "name": "test", "task": TASK,
                            "dataset_version": VERSION, "kind": "test"}, cases)
        for i in range(n_models + n_failed):
            _add_run(conn, i, failed=i >= n_models, epochs=epochs, rng=rng)
        conn.execute(model_version.insert().values(
            task=TASK, scope="global", version=1, model_ref=run_ref(0), dataset_version=VERSION,
            status="champion", created_by="sample", reason="best Dice on the test set"))
    difficulty = rng.normal(0, 0.05, n_cases)
    site_shift = {s: -0.04 * k for k, s in enumerate(sites)}
    shared = _write_overlay(ws, "evaluations/shared", 0) if overlays == "shared" else None
    for i in range(n_models):
        ref = run_ref(i)
        quality = 0.9 - 0.04 * i + difficulty + np.array([site_shift[case_site[c]]
                                                           for c in cases])
        missing = {cases[-1]} if i == n_models - 1 and n_models > 1 else set()
        with ws.begin() as conn:
            evaluation_id = f"ev-{ref}"
            put_evaluation(conn, {"id": evaluation_id, "model_ref": ref, "case_set": CASE_SET,
                                  "dataset_version": VERSION, "status": "finished",
                                  "duration_s": 1.0})
            blobs = set(cases[::STRAY_BLOB_EVERY]) if i == STRAY_BLOB_MODEL else set()
            replace_case_metrics(conn, evaluation_id,
                                 _metric_rows(cases, quality, missing, blobs, rng))
            replace_predictions(conn, evaluation_id, [
                _prediction(ws, evaluation_id, c, i, c in missing, shared) for c in cases])
    return ws


def _add_run(conn, i: int, *, failed: bool, epochs: int, rng: np.random.Generator) -> None:
    ref = run_ref(i)
    augmentation = AUGMENTATIONS[i % len(AUGMENTATIONS)]
    config = {"architecture": ARCHITECTURES[i % len(ARCHITECTURES)],
              "loss": LOSSES[i % len(LOSSES)], "optimizer": "adam",
              "learning_rate": 1e-3 * (1 + i % 3), "batch_size": 8, "epochs": epochs,
              "augmentation": augmentation, "input_size": [32, 32], "seed": i}
    details = {"augmentation_preset": PRESET_CONTENTS[augmentation], "deterministic": True}
    upsert_run(conn, {"id": ref, "task": TASK, "dataset_version": VERSION, "sweep": "sample",
                      "config": config, "config_hash": f"hash-{ref}", "details": details})
    set_run_status(conn, ref, "running", device="cpu")
    if failed:
        set_run_status(conn, ref, "failed", error=FAILED_ERROR, traceback="Traceback ...")
        return
    for epoch in range(epochs):
        decay = np.exp(-epoch / 2)
        add_epoch_metrics(conn, ref, epoch, {
            "train_loss": float(0.2 + decay + rng.normal(0, 0.01)),
            "val_loss": float(0.3 + decay + rng.normal(0, 0.01)),
            "val_dice": float(0.9 - 0.5 * decay - 0.02 * i)})
    set_run_status(conn, ref, "finished", checkpoint_uri=f"runs/{ref}/best.pt",
                   best_metric=0.9 - 0.02 * i, n_parameters=100_000 + 1000 * i)


def _metric_rows(cases, quality, missing, blobs, rng) -> list[dict]:
    rows = []
    for case_id, q in zip(cases, quality, strict=True):
        dice = {k: float(np.clip(q + rng.normal(0, 0.02), 0, 1)) for k in CLASSES}
        stray = STRAY_BLOB_MM if case_id in blobs else 0.0
        hd95 = {k: float(max(0.0, (1 - d) * 40 + stray + rng.normal(0, 0.3)))
                for k, d in dice.items()}
        for metric, per_class in (("dice", dice), ("hd95", hd95)):
            if case_id in missing:
                per_class = dict.fromkeys(per_class, float("nan"))
            rows += [{"case_id": case_id, "metric": metric, "label": k, "value": v}
                     for k, v in per_class.items()]
            rows.append({"case_id": case_id, "metric": metric, "label": "mean",
                         "value": float(np.mean(list(per_class.values())))})
    return rows


def _prediction(ws: Workspace, evaluation_id: str, case_id: str, model: int, missing: bool,
                shared: tuple[str, str] | None) -> dict:
    if missing:
        return {"case_id": case_id, "status": "missing",
                "error": f"no prediction file for case {case_id!r}"}
    folder = f"evaluations/{evaluation_id}"
    overlay, thumb = shared or _write_overlay(ws, f"{folder}/{case_id}", model)
    return {"case_id": case_id, "status": "ok", "prediction_uri": f"{folder}/{case_id}.png",
            "overlay_uri": overlay, "thumbnail_uri": thumb}


def _write_overlay(ws: Workspace, stem: str, model: int) -> tuple[str, str]:
    """A tiny grey image with a green reference circle and a red predicted one; return the
    workspace-relative paths of the overlay and its thumbnail."""
    side = 2 * THUMB_SIDE
    img = Image.new("RGB", (side, side), (40, 40, 40))
    draw = ImageDraw.Draw(img)
    draw.ellipse((10, 10, side - 10, side - 10), outline=(0, 200, 0), width=2)
    shift = 2 + 2 * model
    draw.ellipse((10 + shift, 10, side - 10 + shift, side - 10), outline=(220, 0, 0), width=2)
    paths = (f"{stem}.png", f"{stem}_thumb.png")
    ws.path(paths[0]).parent.mkdir(parents=True, exist_ok=True)
    img.save(ws.path(paths[0]))
    img.resize((THUMB_SIDE, THUMB_SIDE)).save(ws.path(paths[1]))
    return paths
