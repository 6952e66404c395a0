"""From in-memory cases to the tensors a network trains on.

Every image is normalised per channel (``normalization``) and then resized as a whole to
``input_size`` (MONAI ``Resize``: linear interpolation with anti-aliasing for images,
``nearest-exact`` for label maps). Whole-image resizing keeps every structure in view and
makes cases of different sizes batchable; aspect ratio is not preserved, and
:mod:`medselect.train.predict` resizes predictions back to each image's own size. These
deterministic steps run once, when the dataset is built (for cases of the store, once per
sweep: :mod:`medselect.train.cache`); offline copies (``offline_augmentation``) are made once
from the resized cases; the online preset runs per item, training only, at the strength the
epoch's ramp gives (``augmentation_ramp``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai import transforms
from monai.transforms import RandomizableTransform
from monai.utils import convert_to_tensor

from medselect.config.choices import AugmentationPreset, Normalization
from medselect.config.run import RunConfig
from medselect.data.loading import load_case
from medselect.errors import DataError
from medselect.train.augment import build_preset, offline_augment
from medselect.train.cache import CACHE_FOLDER, cached_items, preparation_key

if TYPE_CHECKING:
    from medselect.data.loading import LoadedCase
    from medselect.tasks.base import TaskLike, TaskPlugin

NORMALIZERS: dict[Normalization, tuple[str, dict[str, Any]]] = {
    Normalization.ZSCORE: ("NormalizeIntensity", {"channel_wise": True}),
    Normalization.MINMAX: ("ScaleIntensity", {"minv": 0.0, "maxv": 1.0, "channel_wise": True}),
    # clip to the 0.5th..99.5th percentile of each channel, then map that range to [0, 1]
    Normalization.PERCENTILE: ("ScaleIntensityRangePercentiles", {
        "lower": 0.5, "upper": 99.5, "b_min": 0.0, "b_max": 1.0, "clip": True,
        "channel_wise": True}),
}
"""Each normalisation as a MONAI transform's name and arguments, declared once: training and
inference build it from here, and an exported MONAI bundle writes the same into its
preprocessing."""


@dataclass(frozen=True)
class TrainingData:
    """Cases in memory: channel-first float images and one raw target per case.

    Args:
        images: ``(C, *spatial)`` arrays; sizes may differ between cases.
        targets: what the task plugin's ``prepare_target`` reads (a ``(*spatial)`` integer
            label map for segmentation).
        case_ids: names used in error messages; ``case-0``, ``case-1``, ... when empty.
    """

    images: Sequence[np.ndarray]
    targets: Sequence[Any]
    case_ids: Sequence[str] = ()

    def __post_init__(self) -> None:
        if len(self.images) != len(self.targets):
            raise DataError(
                f"{len(self.images)} images but {len(self.targets)} targets; give one each"
            )
        if not self.case_ids:
            object.__setattr__(self, "case_ids", [f"case-{i}" for i in range(len(self.images))])
        elif len(self.case_ids) != len(self.images):
            raise DataError(f"{len(self.case_ids)} case ids for {len(self.images)} images")

    @classmethod
    def from_cases(cls, cases: Sequence[LoadedCase], target: str = "label") -> TrainingData:
        """Cases read by ``medselect.data.loading``, taking each case's ``target`` attribute.

        Raises:
            DataError: a case has no such target (e.g. no label map).
        """
        missing = [c.case_id for c in cases if getattr(c, target, None) is None]
        if missing:
            raise DataError(
                f"cases {missing[:5]} have no {target}; every training and validation case "
                f"needs one"
            )
        return cls(
            images=[c.image for c in cases],
            targets=[getattr(c, target) for c in cases],
            case_ids=[c.case_id for c in cases],
        )

    def __len__(self) -> int:
        return len(self.images)

    def check(self, task: TaskLike, role: str) -> None:
        """Raise DataError naming the case if the set is empty or an image does not fit."""
        if not self.images:
            raise DataError(f"the {role} is empty; it needs at least one case")
        for case_id, image in zip(self.case_ids, self.images, strict=True):
            check_image(case_id, image, task, role)


def check_image(case_id: str, image: np.ndarray, task: TaskLike, role: str) -> None:
    """Raise DataError naming the case if ``image`` has not the task's channels and axes."""
    shape = tuple(np.shape(image))
    if len(shape) != 1 + task.spatial_dims or shape[0] != task.in_channels:
        raise DataError(
            f"{role}: case {case_id!r}: image has shape {shape}, expected "
            f"({task.in_channels}, ...) with {task.spatial_dims} spatial axes"
        )


@dataclass(frozen=True)
class StoredCases:
    """Cases of the store, read only when they must be prepared: what a sweep worker trains on.

    Args:
        rows: the cases' rows (``case_id``, ``content_hash``, file URIs, ``target``).
        read: reads one row into ``(image, raw target)`` (raises DataError naming the case).
        cache: the dataset version's folder of prepared cases
            (``<workspace>/cache/<dataset version>``); None prepares every case afresh.
        role: what the cases are to the run (``training set``), for error messages.
    """

    rows: Sequence[Mapping[str, Any]]
    read: Callable[[Mapping[str, Any]], tuple[np.ndarray, Any]]
    cache: Path | None = None
    role: str = "training set"

    def __len__(self) -> int:
        return len(self.rows)

    def check(self, task: TaskLike, role: str) -> None:
        """Raise DataError if the set is empty; each image is checked as it is prepared."""
        if not self.rows:
            raise DataError(f"the {role} is empty; it needs at least one case")

    def prepared(self, config: RunConfig, plugin: TaskPlugin, task: TaskLike
                 ) -> list[dict[str, torch.Tensor]]:
        """Every case prepared for ``config`` (:func:`prepare_item`), through the cache."""
        def prepare(row: Mapping[str, Any]) -> dict[str, torch.Tensor]:
            image, target = self.read(row)
            check_image(row["case_id"], image, task, self.role)
            return prepare_item(row["case_id"], image, target, config, plugin, task)

        if self.cache is None:
            return [prepare(row) for row in self.rows]
        folder = self.cache / preparation_key(config, plugin, task)
        return cached_items(self.rows, prepare, folder)


def case_reader(resolve: Callable[[str], Path], target: str
                ) -> Callable[[Mapping[str, Any]], tuple[np.ndarray, Any]]:
    """A :attr:`StoredCases.read`: a case row's image and its ``target`` attribute (``label``,
    ``landmarks``, ``target``), read with :func:`medselect.data.loading.load_case`."""
    def read(row: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
        case = load_case(row, resolve)
        value = getattr(case, target, None)
        if value is None:
            raise DataError(f"case {case.case_id!r} has no {target}; every training and "
                            "validation case needs one")
        return case.image, value

    return read


def cache_folder(workspace: Path, dataset_version: str) -> Path:
    """Where the prepared cases of a dataset version live in a workspace."""
    return workspace / CACHE_FOLDER / dataset_version


def resize(x: torch.Tensor, size: Sequence[int], mode: str = "bilinear") -> torch.Tensor:
    """Resize a channel-first tensor; ``bilinear`` means trilinear in 3D and is anti-aliased."""
    if tuple(x.shape[1:]) == tuple(size):
        return x
    resizer = transforms.Resize(tuple(size), **resize_arguments(len(size), mode))
    return convert_to_tensor(resizer(x), track_meta=False)


def resize_arguments(spatial_dims: int, mode: str = "bilinear") -> dict[str, Any]:
    """The arguments of MONAI's ``Resize`` (beside the size) that :func:`resize` uses: what an
    exported MONAI bundle writes so that it resizes as medselect does."""
    if mode == "nearest":
        return {"mode": "nearest-exact"}
    return {"mode": "bilinear" if spatial_dims == 2 else "trilinear", "anti_aliasing": True}


def normalize(image: np.ndarray | torch.Tensor, method: Normalization | str) -> torch.Tensor:
    """Per-channel intensity normalisation of a ``(C, *spatial)`` image, as float32."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))
    name, arguments = NORMALIZERS[Normalization(method)]
    return convert_to_tensor(getattr(transforms, name)(**arguments)(x), track_meta=False)


def preprocess_image(image: np.ndarray | torch.Tensor, config: RunConfig) -> torch.Tensor:
    """Normalise and resize one image to ``config.input_size`` (what the network sees)."""
    return resize(normalize(image, config.normalization), config.input_size)


class CaseDataset(torch.utils.data.Dataset):
    """Prepared ``{"image", "label"}`` items, augmented on access when an augmentation is set."""

    def __init__(self, items: list[dict[str, torch.Tensor]], augment: transforms.Compose | None):
        self.items = items
        self.augment = augment
        self._full = [(step, step.prob) for step in _random_steps(augment)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.items[index]
        if self.augment is not None:
            item = self.augment(dict(item))
        return {key: convert_to_tensor(value, track_meta=False) for key, value in item.items()}

    def reseed(self, seed: int) -> None:
        """Restart the augmentation's random stream (per epoch, so a resumed run repeats it)."""
        if self.augment is not None:
            self.augment.set_random_state(seed=seed)

    def set_strength(self, strength: float) -> None:
        """Apply each random step with ``strength`` (0..1) times the preset's probability."""
        if not 0 <= strength <= 1:
            raise ValueError(f"augmentation strength must be in [0, 1], got {strength}")
        for step, full in self._full:
            step.prob = full * strength


def _random_steps(augment: transforms.Compose | None) -> list[RandomizableTransform]:
    return [] if augment is None else [
        step for step in augment.flatten().transforms if isinstance(step, RandomizableTransform)]


def prepare_item(case_id: str, image: np.ndarray, target: Any, config: RunConfig,
                 plugin: TaskPlugin, task: TaskLike) -> dict[str, torch.Tensor]:
    """One case as the network sees it: ``{"image", "label"}`` at ``config.input_size``.

    Raises:
        DataError: the case's target does not fit the task (the message names the case).
    """
    try:
        label = plugin.prepare_resized_target(
            target, task, tuple(np.shape(image))[1:], config.input_size
        )
    except DataError as exc:
        raise DataError(f"case {case_id!r}: {exc}") from exc
    if plugin.target_mode is not None:
        label = resize(label, config.input_size, plugin.target_mode)
    return {"image": preprocess_image(image, config), "label": label}


def build_dataset(
    data: TrainingData | StoredCases, config: RunConfig, plugin: TaskPlugin, task: TaskLike, *,
    training: bool,
) -> CaseDataset:
    """The dataset of ``data`` for ``config``: prepared once, plus copies and online augmentation
    when ``training``.

    Raises:
        DataError: a case does not fit the task (the message names the case).
    """
    mode = plugin.target_mode
    if isinstance(data, StoredCases):
        items = data.prepared(config, plugin, task)
    else:
        items = [prepare_item(case_id, image, target, config, plugin, task) for case_id, image,
                 target in zip(data.case_ids, data.images, data.targets, strict=True)]
    augment = None
    if training:
        items += _offline_copies(items, config, mode)
        if config.augmentation != AugmentationPreset.NONE:
            augment = build_preset(
                config.augmentation, len(config.input_size), label_mode=mode, seed=config.seed
            )
    return CaseDataset(items, augment)


def _offline_copies(
    items: list[dict[str, torch.Tensor]], config: RunConfig, mode: str | None
) -> list[dict[str, torch.Tensor]]:
    copies = config.offline_augmentation
    if not copies:
        return []
    labels = [it["label"] for it in items]
    images, moved = offline_augment(
        [it["image"] for it in items], labels if mode else None, copies, config.seed,
        label_mode=mode,
    )
    kept = moved if moved is not None else labels * copies
    return [{"image": i, "label": t} for i, t in zip(images, kept, strict=True)]
