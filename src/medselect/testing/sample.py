"""A small, fully evaluated workspace written straight into the store: a test double.

Tests, browser tests and the dashboard benchmark build the dashboard's input with it instead of
training models: a task of any kind (:mod:`.sample_kinds`: 2D or 3D segmentation, landmarks,
classification) with cases over several sites, some patients with two cases (so patients are
fewer than cases), finished runs with epoch metrics and their augmentation preset spelled out,
one failed run, an evaluation per run and case set (the test split, and the validation split
when asked for) with the kind's per-case metric rows, one missing prediction per case set,
overlay PNGs, a champion in the registry and, when given, the task's stored ranking section.
The case sets are named as an import names them (``<version>-test``, ``<version>-val``), so
``val`` and ``test`` resolve (:func:`medselect.data.named_case_set`). Model
``run-001`` is as good as ``run-000`` on the kind's main metric (shown equivalent within a wide
enough margin, unresolved within a strict one: a dozen patients cannot separate them) but has a
gross error on every fourth case (segmentation: stray false-positive blobs, good Dice
but poor HD95; landmarks: one landmark far off), so with four models or more ranking a
segmentation by HD95 orders them differently from ranking it by Dice.

Example::

    ws = build_sample_workspace(tmp_path / "ws")           # 3 models x 12 cases, 2 sites
    ws = build_sample_workspace(tmp_path / "ws", n_val_cases=10)  # and a validation split
    ws = build_sample_workspace(tmp_path / "ws", ranking={"metric": "dice", "tie_break": []})
    ws = build_sample_workspace(tmp_path / "ws", kind="classification")
    ws = build_sample_workspace(path, n_models=200, n_cases=2000, overlays="shared")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
from PIL import Image

from medselect.data.casesets import split_case_set_id
from medselect.errors import ConfigError
from medselect.registry.audit import append_event
from medselect.store import (
    RunStatus,
    VersionStatus,
    Workspace,
    add_case_set,
    add_dataset_version,
    add_epoch_metrics,
    add_model_version,
    put_evaluation,
    put_task,
    replace_case_metrics,
    replace_predictions,
    set_run_status,
    upsert_run,
)
from medselect.testing.sample_images import THUMB_SIDE, side_by_side
from medselect.testing.sample_kinds import SAMPLE_KINDS, SampleCase, SampleKind

VERSION = "dv-sample"
CASE_SET = split_case_set_id(VERSION, "test")
VAL_CASE_SET = split_case_set_id(VERSION, "val")
PAIRED_PATIENTS = 1
"""Per site, how many patients have two cases by default (the first two of that site in a
split); the others have one."""
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
"""How much lower each model's quality is than the one before it (save the close one)."""
CLOSE_MODEL, CLOSE_GAP = 1, 0.0
"""Model ``run-001`` is only this far behind ``run-000`` in expected quality: only chance (and
the seed) decides which is first, and neither is shown worse than the other."""
STRAY_MODEL, STRAY_EVERY = 1, 4
"""Model ``run-001`` has a gross error (:data:`.sample_kinds.STRAY_MM`) on every fourth case."""
FAILED_ERROR = "CUDA out of memory while allocating 2.00 GiB (batch_size 64); lower batch_size"


def run_ref(i: int) -> str:
    return f"run-{i:03d}"


def case_name(i: int) -> str:
    return f"case-{i:04d}"


def val_case_name(i: int) -> str:
    return f"val-{i:04d}"


def build_sample_workspace(
    root: str | os.PathLike[str],
    *,
    kind: str = "segmentation",
    n_models: int = 3,
    n_cases: int = 12,
    n_val_cases: int = 0,
    sites: tuple[str, ...] = ("north", "south"),
    n_failed: int = 1,
    epochs: int = 3,
    overlays: Literal["per-case", "shared"] = "per-case",
    ranking: Mapping[str, Any] | None = None,
    paired_patients: int = PAIRED_PATIENTS,
    seed: int = 0,
) -> Workspace:
    """Create the workspace at ``root`` and fill it; return it open (dispose it when done).

    ``kind`` is a key of :data:`.sample_kinds.SAMPLE_KINDS`. Model ``run-000`` is the best and
    the global champion; the last model has no prediction for the last case of each case set
    (its metrics are NaN), so imputation shows. ``n_cases`` test cases (``case-NNNN``) and
    ``n_val_cases`` validation cases (``val-NNNN``, other patients) are evaluated; at each site
    the first ``paired_patients`` patients of a split have two cases (0: every case is its own
    patient). ``ranking`` is the
    task's stored ``ranking:`` section (a :class:`~medselect.config.RankingSpec` as JSON); None
    stores none, so the task family's default applies. ``overlays="shared"`` writes one overlay
    for all predictions (fast, for large benchmarks); ``"per-case"`` one PNG each.

    Raises:
        ConfigError: an unknown ``kind``.
    """
    if kind not in SAMPLE_KINDS:
        raise ConfigError(f"kind {kind!r} has no sample; choose one of "
                          f"{', '.join(SAMPLE_KINDS)}")
    spec = SAMPLE_KINDS[kind]
    task = spec.task.name
    rng = np.random.default_rng(seed)
    ws = Workspace.create(root)
    splits = {"test": _cases(spec, n_cases, case_name, 0, sites, paired_patients),
              "val": _cases(spec, n_val_cases, val_case_name, n_cases, sites, paired_patients)}
    with ws.begin() as conn:
        put_task(conn, task, spec.task.kind, spec.task.model_dump(mode="json"),
                 ranking=None if ranking is None else dict(ranking))
        add_dataset_version(conn, {"id": VERSION, "task": task, "description": "sample"}, [
            {"case_id": c.case_id, "patient_id": patient, "site": site, "split": split,
             "image_uris": [f"images/{c.case_id}.png"], "label_uri": f"labels/{c.case_id}.png",
             "target": c.target, "content_hash": f"h-{c.case_id}"}
            for split, cases in splits.items() for c, patient, site in cases])
        for split, cases in splits.items():
            if cases:
                add_case_set(conn, {"id": split_case_set_id(VERSION, split), "name": split,
                                    "task": task, "dataset_version": VERSION, "kind": split},
                             [c.case_id for c, _, _ in cases])
        for i in range(n_models + n_failed):
            _add_run(conn, spec, i, failed=i >= n_models, epochs=epochs, rng=rng)
        champion = add_model_version(conn, {
            "task": task, "scope": "global", "model_ref": run_ref(0), "dataset_version": VERSION,
            "status": VersionStatus.CHAMPION, "created_by": "sample",
            "reason": "best on the test set"})
        append_event(conn, "sample", "promote", {  # the registry's audit log vouches for it
            "task": task, "scope": "global", "version": champion["version"],
            "model_ref": run_ref(0), "status": VersionStatus.CHAMPION, "dataset_version": VERSION,
            "reason": "best on the test set", "previous_champion": None})
    shared = None
    if overlays == "shared":
        first = splits["test"][0][0]
        shared = _write_overlay(ws, "evaluations/shared", spec.slices(first, 0, False, {}))
    for split, cases in splits.items():
        if cases:
            _evaluate(ws, spec, split, cases, sites, n_models, rng, shared)
    return ws


SampleRow = tuple[SampleCase, str, str]
"""A case of the sample with its patient id and site."""


def _cases(spec: SampleKind, n: int, name: Callable[[int], str], first: int,
           sites: tuple[str, ...], paired: int) -> list[SampleRow]:
    """``n`` cases (their indices and patients numbered from ``first``): case ``i`` is at site
    ``i % len(sites)``, and the first ``paired`` patients of each site also have the case
    ``paired * len(sites)`` positions later."""
    k = len(sites)
    out = []
    for i in range(n):
        target = (i // k) % len(spec.task.classes) if spec.targets else None
        owner = i - paired * k if paired * k <= i < 2 * paired * k else i
        out.append((SampleCase(name(i), first + i, target), f"patient-{first + owner:04d}",
                    sites[i % k]))
    return out


def _evaluate(ws: Workspace, spec: SampleKind, split: str, rows_of: list[SampleRow],
              sites: tuple[str, ...], n_models: int, rng: np.random.Generator,
              shared: tuple[str, str] | None) -> None:
    """One finished evaluation of every model on the case set of ``split``."""
    case_set = split_case_set_id(VERSION, split)
    cases = [c for c, _, _ in rows_of]
    difficulty = rng.normal(0, 0.05, len(cases))
    site_shift = np.array([-0.04 * sites.index(site) for _, _, site in rows_of])
    for i in range(n_models):
        ref = run_ref(i)
        gap = CLOSE_GAP if i == CLOSE_MODEL else QUALITY_STEP * i
        quality = 0.9 - gap + difficulty + site_shift
        missing = {cases[-1].case_id} if i == n_models - 1 and n_models > 1 else set()
        stray = {c.case_id for c in cases[::STRAY_EVERY]} if i == STRAY_MODEL else set()
        evaluation_id = f"ev-{ref}" if split == "test" else f"ev-{ref}-{split}"
        rows, predictions = [], []
        for case, q in zip(cases, quality, strict=True):
            case_rows = spec.rows(case, float(q), case.case_id in stray, rng)
            if case.case_id in missing:
                case_rows = spec.missing(case_rows)
            rows += case_rows
            predictions.append(_prediction(ws, spec, evaluation_id, case, i, case_rows,
                                           missing=case.case_id in missing,
                                           stray=case.case_id in stray, shared=shared))
        with ws.begin() as conn:
            put_evaluation(conn, {"id": evaluation_id, "model_ref": ref, "case_set": case_set,
                                  "dataset_version": VERSION, "status": RunStatus.FINISHED,
                                  "duration_s": 1.0})
            replace_case_metrics(conn, evaluation_id, rows)
            replace_predictions(conn, evaluation_id, predictions)


def _add_run(conn, spec: SampleKind, i: int, *, failed: bool, epochs: int,
             rng: np.random.Generator) -> None:
    ref = run_ref(i)
    augmentation = AUGMENTATIONS[i % len(AUGMENTATIONS)]
    config = {"architecture": spec.architectures[i % len(spec.architectures)],
              "loss": spec.losses[i % len(spec.losses)], "optimizer": "adam",
              "learning_rate": 1e-3 * (1 + i % 3), "batch_size": 8, "epochs": epochs,
              "augmentation": augmentation, "input_size": list(spec.input_size), "seed": i}
    details = {"augmentation_preset": PRESET_CONTENTS[augmentation], "deterministic": True}
    upsert_run(conn, {"id": ref, "task": spec.task.name, "dataset_version": VERSION,
                      "sweep": "sample", "config": config, "config_hash": f"hash-{ref}",
                      "details": details})
    set_run_status(conn, ref, RunStatus.RUNNING, device="cpu")
    if failed:
        set_run_status(conn, ref, RunStatus.FAILED, error=FAILED_ERROR, traceback="Traceback ...")
        return
    for epoch in range(epochs):
        decay = np.exp(-epoch / 2)
        add_epoch_metrics(conn, ref, epoch, {
            "train_loss": float(0.2 + decay + rng.normal(0, 0.01)),
            "val_loss": float(0.3 + decay + rng.normal(0, 0.01)),
            spec.val_metric: float(spec.val_value(decay, i))})
    set_run_status(conn, ref, RunStatus.FINISHED, checkpoint_uri=f"runs/{ref}/best.pt",
                   best_metric=spec.val_value(0.0, i), n_parameters=100_000 + 1000 * i)


def _prediction(ws: Workspace, spec: SampleKind, evaluation_id: str, case: SampleCase,
                model: int, rows: list[dict], *, missing: bool, stray: bool,
                shared: tuple[str, str] | None) -> dict:
    if missing:
        return {"case_id": case.case_id, "status": "missing",
                "error": f"no prediction file for case {case.case_id!r}"}
    folder = f"evaluations/{evaluation_id}"
    values = {(r["metric"], r["label"]): r["value"] for r in rows}
    overlay, thumb = shared or _write_overlay(ws, f"{folder}/{case.case_id}",
                                              spec.slices(case, model, stray, values))
    return {"case_id": case.case_id, "status": "ok",
            "prediction_uri": f"{folder}/{case.case_id}{spec.prediction_suffix}",
            "overlay_uri": overlay, "thumbnail_uri": thumb}


def _write_overlay(ws: Workspace, stem: str, slices: list[Image.Image]) -> tuple[str, str]:
    """Save the slices side by side and the first one as the thumbnail; return the
    workspace-relative paths of the overlay and its thumbnail."""
    paths = (f"{stem}.png", f"{stem}_thumb.png")
    ws.path(paths[0]).parent.mkdir(parents=True, exist_ok=True)
    side_by_side(slices).save(ws.path(paths[0]))
    slices[0].resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR).save(ws.path(paths[1]))
    return paths
