"""Read stored cases into arrays, once, for training and evaluation.

Channels are stacked channel-first (C, x, y[, z]) as MONAI expects; labels stay integer maps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medselect.data.readers import read_image
from medselect.errors import DataError, ImageReadError


@dataclass(frozen=True)
class LoadedCase:
    """One case in memory, with what ranking and overlays need to know about it."""

    case_id: str
    image: np.ndarray  # (C, x, y[, z]) float32
    spacing: tuple[float, ...]
    label: np.ndarray | None = None  # (x, y[, z]) integer
    landmarks: dict[str, tuple[float, ...]] | None = None  # voxel coordinates
    target: int | None = None
    site: str = "default"
    attributes: dict[str, Any] = field(default_factory=dict)
    origin: tuple[float, ...] = ()  # of the first channel, as read; () for identity geometry
    direction: tuple[float, ...] = ()  # so predictions can be written in the input's geometry


def load_case(row: Mapping[str, Any], resolve: Callable[[str], Path]) -> LoadedCase:
    """Read one ``case`` row of the store; ``resolve`` turns a stored URI into a path.

    Raises:
        DataError: a file is unreadable or the channels disagree (message names case and file).
    """
    case_id = row["case_id"]
    try:
        channels = [read_image(resolve(u)) for u in row["image_uris"]]
        label_uri = row.get("label_uri")
        label = read_image(resolve(label_uri), kind="label") if label_uri else None
    except ImageReadError as exc:
        raise DataError(f"case {case_id!r}: {exc}") from exc
    shapes = {c.shape for c in channels}
    if len(shapes) != 1:
        raise DataError(f"case {case_id!r}: its channels have different shapes {sorted(shapes)}")
    return LoadedCase(
        case_id=case_id,
        image=np.stack([c.array for c in channels]).astype(np.float32, copy=False),
        spacing=tuple(channels[0].spacing),
        label=None if label is None else label.array,
        landmarks=read_landmarks(resolve(row["landmarks_uri"]), case_id)
        if row.get("landmarks_uri") else None,
        target=row.get("target"),
        site=row.get("site", "default"),
        attributes=dict(row.get("attributes") or {}),
        origin=tuple(channels[0].origin),
        direction=tuple(channels[0].direction),
    )


def load_cases(
    rows: Sequence[Mapping[str, Any]], resolve: Callable[[str], Path]
) -> list[LoadedCase]:
    """:func:`load_case` for every row, in order."""
    return [load_case(row, resolve) for row in rows]


def read_landmarks(path: Path, case_id: str) -> dict[str, tuple[float, ...]]:
    """A landmarks file (a case's, or a model's predicted points): name -> voxel coordinates.

    Raises:
        DataError: the file is unreadable or not a JSON object of name -> [x, y(, z)].
    """
    try:
        points = json.loads(path.read_text())
        return {str(k): tuple(float(v) for v in xyz) for k, xyz in points.items()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise DataError(
            f"case {case_id!r}: {path}: landmarks must be a JSON object name -> [x, y(, z)] ({exc})"
        ) from exc
