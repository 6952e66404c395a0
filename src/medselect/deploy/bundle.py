"""A segmentation champion as a MONAI Bundle that MONAI's own tooling runs.

Layout (MONAI Bundle Specification)::

    configs/metadata.json    versions, task, network_data_format, and the medselect provenance
    configs/inference.json   read, preprocess, infer, postprocess, save: ``python -m monai.bundle
                             run --config_file configs/inference.json --bundle_root . \\
                             --dataset_dir IMAGES --output_dir OUT``
    models/model.ts          the traced network, with metadata.json inside (MONAI's
                             ``save_net_with_metadata``)
    models/model.pt          its state dict
    docs/README.md           the model card

The inference config does what medselect's inference does (:mod:`medselect.train.predict`),
with the same transforms and arguments, taken from where medselect declares them
(:data:`~medselect.train.NORMALIZERS`, :func:`~medselect.train.resize_arguments`): each image
is normalised per channel and resized as a whole to the network's input size; the logits are
resized back to the image's size, linearly and anti-aliased, and the label map is their argmax,
saved as ``<image>_seg`` in the image's geometry. MONAI's ``Invertd`` restores the image's size
and geometry but resizes without anti-aliasing, so the logits it resized are then replaced by
the anti-aliased resize of a copy kept before it. Cases are read one file per case (one
channel) with nibabel, or Pillow for ``.png``. Running it needs ``pytorch-ignite`` (MONAI's
``SupervisedEvaluator``), as the bundles of MONAI's model zoo do.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medselect.config import RunConfig, TaskSpec
from medselect.config.choices import TaskKind
from medselect.errors import ExportError
from medselect.store import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import torch

__all__ = ["bundle_configs", "check_bundle_task", "write_bundle"]


def bundle_configs(task: TaskSpec, config: RunConfig,
                   provenance: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``metadata.json`` and ``inference.json`` of a segmentation network of ``task`` trained
    with ``config``.

    Args:
        provenance: where the network comes from (task, scope, registry version, evidence),
            kept under ``medselect`` in the metadata.

    Raises:
        ExportError: see :func:`check_bundle_task`.
    """
    check_bundle_task(task)
    return _metadata(task, config, provenance), _inference(task, config)


def check_bundle_task(task: TaskSpec) -> None:
    """Refuse a task a bundle cannot serve.

    Raises:
        ExportError: the task is not a one-channel segmentation task (the bundle's transforms
            read one image per case and save a label map).
    """
    if task.family != TaskKind.SEGMENTATION or task.in_channels != 1:
        raise ExportError(
            f"task {task.name!r} is {task.family} with {task.in_channels} channel(s): a MONAI "
            "bundle export reads one image per case and writes a label map, so it serves "
            "one-channel segmentation; export with `format=` onnx or torchscript for the network "
            "alone (model.json says how to prepare its input)")


def write_bundle(folder: Path, traced: torch.jit.ScriptModule, configs: tuple[dict, dict],
                 readme: str) -> Path:
    """Write the bundle's files into ``folder``; return it."""
    import torch
    from monai.data import save_net_with_metadata

    metadata, inference = configs
    stream = io.BytesIO()
    save_net_with_metadata(traced, stream, include_config_vals=False, meta_values=metadata,
                           more_extra_files={"inference.json": json.dumps(inference).encode()})
    atomic_write_bytes(folder / "models" / "model.ts", stream.getvalue())
    weights = io.BytesIO()
    torch.save(traced.state_dict(), weights)
    atomic_write_bytes(folder / "models" / "model.pt", weights.getvalue())
    for name, content in (("metadata.json", metadata), ("inference.json", inference)):
        atomic_write_text(folder / "configs" / name, json.dumps(content, indent=2) + "\n")
    atomic_write_text(folder / "docs" / "README.md", readme)
    return folder


def _metadata(task: TaskSpec, config: RunConfig,
              provenance: Mapping[str, Any]) -> dict[str, Any]:
    import monai
    import nibabel
    import numpy
    import torch

    version = f"{provenance['version']}.0.0"
    classes = {str(i): name for i, name in enumerate(task.classes)}
    tensor = {"type": "image", "modality": "n/a", "spatial_shape": list(config.input_size),
              "dtype": "float32", "value_range": [], "is_patch_data": False}
    return {
        "version": version,
        "changelog": {version: f"medselect: {provenance['task']} {provenance['scope']} "
                               f"v{provenance['version']}, {provenance['summary']}"},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": numpy.__version__,
        "optional_packages_version": {"nibabel": nibabel.__version__},
        "required_packages_version": {"nibabel": nibabel.__version__,
                                      "pytorch-ignite": _version("pytorch-ignite")},
        "task": f"{task.name}: segmentation of {', '.join(task.classes[1:])}",
        "description": (f"{config.architecture} champion of scope {provenance['scope']} for "
                        f"task {task.name}, chosen and promoted by medselect; see "
                        "docs/README.md (the model card) for its sites, figures and evidence"),
        "authors": f"medselect registry, promoted by {provenance['promoted_by']}",
        "copyright": "the owner of the medselect workspace it was exported from",
        "intended_use": "as the model card (docs/README.md) states; not for diagnosis "
                        "without the owner's sign-off",
        "data_type": "nibabel",
        "image_classes": f"{task.in_channels} channel(s), {config.normalization} normalised",
        "pred_classes": f"{len(classes)} channels of logits, one per class: {classes}",
        "network_data_format": {
            "inputs": {"image": {**tensor, "format": "magnitude",
                                 "num_channels": task.in_channels,
                                 "channel_def": {"0": "image"}}},
            "outputs": {"pred": {**tensor, "format": "labels", "num_channels": len(classes),
                                 "channel_def": classes}},
        },
        "medselect": dict(provenance),
    }


def _version(package: str) -> str:
    """The installed version of ``package``, or ``""`` when it is not installed here."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return ""


def _inference(task: TaskSpec, config: RunConfig) -> dict[str, Any]:
    from medselect.train import NORMALIZERS, resize_arguments

    dims = len(config.input_size)
    normalizer, arguments = NORMALIZERS[config.normalization]
    resize = resize_arguments(dims)
    back = ", ".join(f"{k}={v!r}" for k, v in resize.items())
    return {
        "imports": ["$import glob", "$import os"],
        "bundle_root": ".",
        "dataset_dir": "/workspace/data",
        "file_ending": ".nii.gz",
        "output_dir": "$@bundle_root + '/eval'",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "network_def": "$torch.jit.load(@bundle_root + '/models/model.ts', "
                       "map_location=@device)",
        "network": "$@network_def.eval()",
        "datalist": "$list(sorted(glob.glob(os.path.join(@dataset_dir, '*' + @file_ending))))",
        "reader": "$'PILReader' if @file_ending.lower().endswith('.png') else 'NibabelReader'",
        "preprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "LoadImaged", "keys": "image", "reader": "@reader"},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "EnsureTyped", "keys": "image", "dtype": "$torch.float32"},
            {"_target_": f"{normalizer}d", "keys": "image", **arguments},
            {"_target_": "Resized", "keys": "image", "spatial_size": list(config.input_size),
             **resize},
        ]},
        "dataset": {"_target_": "Dataset", "data": "$[{'image': i} for i in @datalist]",
                    "transform": "@preprocessing"},
        "dataloader": {"_target_": "DataLoader", "dataset": "@dataset", "batch_size": 1,
                       "shuffle": False, "num_workers": 0},
        "inferer": {"_target_": "SimpleInferer"},
        "postprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "CopyItemsd", "keys": "pred", "names": "logits"},
            {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing",
             "orig_keys": "image", "nearest_interp": False, "to_tensor": True},
            {"_target_": "Lambda",
             "func": "$lambda d: dict(d, pred=d['pred'].set_array(monai.transforms.Resize("
                     f"d['pred'].shape[1:], {back})(d['logits'])))"},
            {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
            {"_target_": "SaveImaged", "keys": "pred", "output_dir": "@output_dir",
             "output_postfix": "seg", "separate_folder": False, "resample": False,
             "output_dtype": "$np.uint8"},
        ]},
        "evaluator": {"_target_": "SupervisedEvaluator", "device": "@device",
                      "val_data_loader": "@dataloader", "network": "@network",
                      "inferer": "@inferer", "postprocessing": "@postprocessing"},
        "run": ["$@evaluator.run()"],
    }
