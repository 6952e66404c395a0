"""Champions handed to a deployment stack: a MONAI bundle, ONNX or TorchScript per scope.

:func:`export_champions` writes, for each scope asked for, its champion into
``<out>/<scope folder>/`` (``global``, ``site-<name>``):

- ``monai-bundle``: a MONAI Bundle (:mod:`~medselect.deploy.bundle`) whose inference config
  reads images, prepares them, runs the network and saves label maps as medselect would, with
  the champion's model card as its ``docs/README.md``;
- ``onnx``: ``model.onnx``, checked with ONNX Runtime against PyTorch;
- ``torchscript``: ``model.ts``, checked against PyTorch.

ONNX and TorchScript hold the network alone, so beside each ``model.json`` says what it expects
and gives (input shape, the normalisation and resize transforms with MONAI's names and
arguments, the output and how it is decoded) and where the model comes from (registry version,
gate evidence). With several scopes, ``routing.json`` maps each site to its exported model and
names the global one as the default for every other site, so a deployment routes as
``medselect predict`` does.

Example::

    report = export_champions(ws, ["global", "site:lyon"], "onnx", Path("export"))
    report.routing  # export/routing.json
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from medselect.config import RunConfig, TaskSpec
from medselect.config.choices import choice_error
from medselect.deploy.bundle import check_bundle_task
from medselect.errors import ConfigError, EvaluationError, ExportError
from medselect.evaluate import TrainedPredictor, load_task
from medselect.registry import (
    ModelVersion,
    model_card,
    parse_scope,
    render_card_markdown,
    scope_site,
)
from medselect.registry.locations import scope_folder
from medselect.registry.routing import champion_of, evidence_id, trained_run
from medselect.store import Workspace, atomic_write_text, utcnow

__all__ = ["ROUTING_FILE", "ExportFormat", "ExportReport", "ExportedModel", "export_champions"]

ROUTING_FILE = "routing.json"


class ExportFormat(StrEnum):
    """What a champion is exported as."""

    MONAI_BUNDLE = "monai-bundle"
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"


_MODEL_FILES = {ExportFormat.ONNX: "model.onnx", ExportFormat.TORCHSCRIPT: "model.ts"}


@dataclass(frozen=True)
class ExportedModel:
    """One scope's champion as exported.

    Attributes:
        path: the bundle folder or the model file, relative to the export folder.
        difference: the largest absolute difference between the exported model's logits and
            PyTorch's on an input the export did not see.
    """

    scope: str
    version: int
    model_ref: str
    path: str
    difference: float
    evidence: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "version": self.version, "model_ref": self.model_ref,
                "path": self.path, "difference": self.difference,
                "evidence": dict(self.evidence)}


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_champions` wrote; ``routing`` is None for a single scope."""

    task: str
    format: ExportFormat
    folder: Path
    models: tuple[ExportedModel, ...]
    routing: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "format": self.format.value, "folder": str(self.folder),
                "models": [m.to_dict() for m in self.models],
                "routing": None if self.routing is None else str(self.routing)}


def export_champions(
    ws: Workspace,
    scopes: Sequence[str],
    fmt: ExportFormat | str,
    out: str | os.PathLike[str],
    *,
    task: TaskSpec | str | None = None,
) -> ExportReport:
    """Export the champion of each scope in ``scopes`` as ``fmt`` into ``out``.

    Args:
        scopes: ``global`` and/or ``site:NAME``, each once.
        fmt: ``monai-bundle``, ``onnx`` or ``torchscript``.
        task: the task (default: the workspace's only task).

    Raises:
        ConfigError: no scope, or an unknown format.
        RegistryError: a scope has no champion (``medselect promote``), or its champion is a
            model made elsewhere.
        ExportError: the champion cannot be exported in ``fmt``, or the export does not
            compute what PyTorch computes.
    """
    fmt = _format(fmt)
    wanted = list(dict.fromkeys(parse_scope(s) for s in scopes))
    if not wanted:
        raise ConfigError("name at least one scope to export (global, site:NAME)", param="scope")
    spec = task if isinstance(task, TaskSpec) else load_task(ws, task)
    if fmt == ExportFormat.MONAI_BUNDLE:
        check_bundle_task(spec)  # before any network is loaded
    with ws.connect() as conn:
        champions = [champion_of(conn, spec.name, scope) for scope in wanted]
        runs = [trained_run(conn, version) for version in champions]
        cards = [render_card_markdown(model_card(conn, spec.name, v.scope, v.version))
                 if fmt == ExportFormat.MONAI_BUNDLE else None for v in champions]
    folder = Path(out)
    models = tuple(_export(ws, spec, version, run, fmt, folder, card)
                   for version, run, card in zip(champions, runs, cards, strict=True))
    routing = _write_routing(folder, spec, fmt, models) if len(models) > 1 else None
    return ExportReport(spec.name, fmt, folder, models, routing)


def _format(fmt: ExportFormat | str) -> ExportFormat:
    try:
        return ExportFormat(str(fmt).strip().lower())
    except ValueError:
        raise ConfigError(choice_error(ExportFormat, fmt), param="format") from None


def _export(ws: Workspace, task: TaskSpec, version: ModelVersion, run: Mapping[str, Any],
            fmt: ExportFormat, out: Path, card: str | None) -> ExportedModel:
    """Load the champion's network on the CPU and write it in ``fmt`` under ``out``."""
    from medselect.deploy.bundle import bundle_configs, write_bundle
    from medselect.deploy.formats import example_input, save_onnx, save_torchscript, trace

    predictor = TrainedPredictor(ws, run, task, device="cpu")
    try:
        predictor.load()
    except EvaluationError as exc:
        raise ExportError(f"the champion of scope {version.scope!r}: {exc}") from exc
    config: RunConfig = predictor.config
    provenance = _provenance(version, config)
    folder = out / scope_folder(version.scope)
    example = example_input(task.in_channels, tuple(config.input_size))
    try:
        if fmt == ExportFormat.MONAI_BUNDLE:
            configs = bundle_configs(task, config, provenance)
            traced, difference = trace(predictor.network, example)
            write_bundle(folder, traced, configs, card or "")
            path = folder
        elif fmt == ExportFormat.ONNX:
            path = folder / _MODEL_FILES[fmt]
            difference = save_onnx(predictor.network, example, path)
        else:
            path = folder / _MODEL_FILES[fmt]
            traced, difference = trace(predictor.network, example)
            save_torchscript(traced, path)
    except ExportError as exc:
        raise ExportError(f"scope {version.scope!r}, {version.model_ref} "
                          f"(v{version.version}): {exc}") from exc
    finally:
        predictor.close()
    if fmt != ExportFormat.MONAI_BUNDLE:
        atomic_write_text(folder / "model.json", json.dumps(
            {**provenance, "format": fmt.value, "file": path.name,
             "network": _network_io(task, config)}, indent=2) + "\n")
    return ExportedModel(version.scope, version.version, version.model_ref,
                         path.relative_to(out).as_posix(), difference, evidence_id(version))


def _provenance(version: ModelVersion, config: RunConfig) -> dict[str, Any]:
    """Where an exported model comes from: the registry version, its evidence and training."""
    return {"task": version.task, "scope": version.scope, "version": version.version,
            "model_ref": version.model_ref, "dataset_version": version.dataset_version,
            "promoted_by": version.created_by, "summary": version.evidence.get("summary", ""),
            "evidence": evidence_id(version), "run_config": config.model_dump(mode="json"),
            "exported_at": utcnow().isoformat()}


def _network_io(task: TaskSpec, config: RunConfig) -> dict[str, Any]:
    """What the bare network takes and gives, and how medselect prepares and decodes it."""
    from medselect.train import NORMALIZERS, resize_arguments

    normalizer, arguments = NORMALIZERS[config.normalization]
    resize = resize_arguments(len(config.input_size))
    return {
        "input": {"name": "image", "shape": ["batch", task.in_channels, *config.input_size],
                  "dtype": "float32"},
        "output": {"name": "logits", "family": str(task.family),
                   "channels": list(task.classes or task.landmarks)},
        "preprocessing": [
            {"monai": normalizer, **arguments},
            {"monai": "Resize", "spatial_size": list(config.input_size), **resize},
        ],
        "postprocessing": _decoding(task, resize),
    }


def _decoding(task: TaskSpec, back: Mapping[str, Any]) -> str:
    if task.family == "classification":
        return "softmax over the logits: one probability per class"
    then = ("argmax over channels: the label map" if task.family == "segmentation" else
            "one heatmap per landmark, decoded to its peak (medselect refines it by a local "
            "soft-argmax)")
    return f"resize the logits back to the image's size (MONAI Resize, {dict(back)}), then {then}"


def _write_routing(folder: Path, task: TaskSpec, fmt: ExportFormat,
                   models: Sequence[ExportedModel]) -> Path:
    """``routing.json``: site -> exported model, the global one as the default."""
    sites = {scope_site(m.scope): m.path for m in models if scope_site(m.scope) is not None}
    default = next((m.path for m in models if scope_site(m.scope) is None), None)
    routing = {"task": task.name, "format": fmt.value, "default": default, "sites": sites,
               "models": {m.path: m.to_dict() for m in models},
               "rule": "a case of a listed site goes to its model; every other case to the "
                       "default (none: it has no model)"}
    return atomic_write_text(folder / ROUTING_FILE, json.dumps(routing, indent=2) + "\n")
