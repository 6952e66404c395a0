"""A small, fully evaluated workspace written straight into the store: a test double.

Tests, browser tests and the dashboard benchmark build the dashboard's input with it instead of
training models: a segmentation task with cases over several sites, finished runs with epoch
metrics and their augmentation preset spelled out, one failed run, an evaluation per run with
Dice and HD95 per class and their mean, one missing prediction, overlay PNGs and a champion in
the registry. Model ``run-001`` is as good as ``run-000`` on Dice (the best group has two
models) but has stray false-positive blobs on every fourth case: good Dice, poor HD95, so with
four models or more ranking by HD95 orders them differently from ranking by Dice.

Example::

    ws = build_sample_workspace(tmp_path / "ws")           # 3 models x 12 cases, 2 sites
    ws = build_sample_workspace(path, n_models=200, n_cases=2000, overlays="shared")
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from medselect.config import TaskSpec
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
QUALITY_STEP = 0.04
"""How much lower each model's Dice is than the one before it (save the close one)."""
CLOSE_MODEL, CLOSE_GAP = 1, 0.0
"""Model ``run-001`` is only this far behind ``run-000`` in expected Dice: only chance (and the
seed) puts ``run-000`` first, and the two are statistically indistinguishable."""
STRAY_BLOB_MODEL, STRAY_BLOB_EVERY, STRAY_BLOB_MM = 1, 4, 20.0
FAILED_ERROR = "CUDA out of memory while allocating 2.00 GiB (batch_size 64); lower batch_size"
OVERLAY_SIDE, THUMB_SIDE = 128, 64


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
        spec = TaskSpec(name=TASK, kind="segmentation", classes=["background", *CLASSES])
        put_task(conn, TASK, "segmentation", spec.model_dump(mode="json"))
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
        gap = CLOSE_GAP if i == CLOSE_MODEL else QUALITY_STEP * i
        quality = 0.9 - gap + difficulty + np.array([site_shift[case_site[c]] for c in cases])
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
                _prediction(ws, evaluation_id, c, i, c in missing, c in blobs, shared)
                for c in cases])
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
                blob: bool, shared: tuple[str, str] | None) -> dict:
    if missing:
        return {"case_id": case_id, "status": "missing",
                "error": f"no prediction file for case {case_id!r}"}
    folder = f"evaluations/{evaluation_id}"
    overlay, thumb = shared or _write_overlay(ws, f"{folder}/{case_id}", model,
                                              int(case_id.rsplit("-", 1)[-1]), blob)
    return {"case_id": case_id, "status": "ok", "prediction_uri": f"{folder}/{case_id}.png",
            "overlay_uri": overlay, "thumbnail_uri": thumb}


def _write_overlay(ws: Workspace, stem: str, model: int, case: int = 0,
                   blob: bool = False) -> tuple[str, str]:
    """A knee-like slice (femur above, tibia below) with the reference outlined in green and
    the prediction in red, shifted more the worse the model; return the workspace-relative
    paths of the overlay and its thumbnail."""
    side = OVERLAY_SIDE
    grey = np.full((side, side), 35, dtype=np.uint8)
    yy, xx = np.mgrid[:side, :side]
    grey[((xx - side / 2) / (0.42 * side)) ** 2 + ((yy - side / 2) / (0.48 * side)) ** 2 < 1] = 80
    femur, tibia = _bones(side, case)
    for (x0, y0, x1, y1), value in ((femur, 170), (tibia, 150)):
        inside = (((xx - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2
                  + ((yy - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2) < 1
        grey[inside] = value
    noise = np.random.default_rng(case).integers(0, 18, grey.shape, dtype=np.uint8)
    img = Image.fromarray(grey + noise).convert("RGB")
    draw = ImageDraw.Draw(img)
    shift = 1 + 2 * model + case % 3
    for x0, y0, x1, y1 in (femur, tibia):
        draw.ellipse((x0, y0, x1, y1), outline=(0, 210, 0), width=2)
        draw.ellipse((x0 + shift, y0 + shift // 2, x1 + shift, y1 - shift // 2),
                     outline=(230, 0, 0), width=2)
    if blob:
        draw.ellipse((side * 0.72, side * 0.1, side * 0.86, side * 0.22), outline=(230, 0, 0),
                     width=2)
    paths = (f"{stem}.png", f"{stem}_thumb.png")
    ws.path(paths[0]).parent.mkdir(parents=True, exist_ok=True)
    img.save(ws.path(paths[0]))
    img.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR).save(ws.path(paths[1]))
    return paths


def _bones(side: int, case: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Bounding boxes of the femur (top) and tibia (bottom) ellipses, varying by case."""
    wobble = (case % 5) * side / 80
    femur = (0.25 * side + wobble, 0.08 * side, 0.75 * side - wobble, 0.47 * side)
    tibia = (0.28 * side, 0.53 * side + wobble, 0.72 * side, 0.92 * side)
    return femur, tibia
