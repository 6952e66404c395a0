"""Where dataset records come from: a manifest, an nnU-Net folder, or the knee phantom."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medselect.data.case import CaseRecord
from medselect.data.manifest import read_manifest
from medselect.data.nnunet import read_nnunet
from medselect.data.phantom import KNEE_CLASSES, KNEE_LANDMARKS, synth_knee_dataset
from medselect.errors import DataError

PHANTOM_TASK = "knee-seg"


@dataclass(frozen=True)
class SourceData:
    """Records read from a source, and what the source says about the task."""

    records: list[CaseRecord]
    kind: str  # manifest | nnunet | phantom
    path: Path
    classes: list[str] = field(default_factory=list)
    landmarks: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What the dataset version records as its ``source``."""
        return {"kind": self.kind, "path": str(self.path), **self.extra}


def read_source(path: str | Path) -> SourceData:
    """Read a CSV/JSON manifest or an nnU-Net raw folder (a folder with ``dataset.json``).

    Raises:
        DataError: the path is neither, or the source is malformed (``DatasetInvalid``).
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "dataset.json").is_file():
            raise DataError(
                f"{path}: a folder source must be an nnU-Net raw dataset with dataset.json; "
                "for other layouts write a CSV manifest (case_id,image,label,site,patient_id)"
            )
        records, info = read_nnunet(path)
        return SourceData(records, "nnunet", path, classes=list(info.get("classes", [])),
                          extra={"dataset": info.get("name", path.name)})
    if path.suffix.lower() in (".csv", ".json"):
        return SourceData(read_manifest(path), "manifest", path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: not a manifest (.csv, .json) nor an nnU-Net folder")


def synth_phantom(
    out: Path, *, cases_per_site: int, size: int, seed: int, spatial_dims: int = 2
) -> SourceData:
    """Write the knee phantom to ``out`` and return it as a source."""
    records = synth_knee_dataset(
        out, cases_per_site=cases_per_site, size=size, seed=seed, spatial_dims=spatial_dims
    )
    return SourceData(
        records, "phantom", out, classes=list(KNEE_CLASSES), landmarks=list(KNEE_LANDMARKS),
        extra={"cases_per_site": cases_per_site, "size": size, "seed": seed,
               "spatial_dims": spatial_dims},
    )
