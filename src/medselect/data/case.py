"""One case of a dataset as sources describe it, before it is read or stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class CaseRecord:
    """A case: where its files are and what is known about it.

    Args:
        case_id: unique within a dataset.
        images: one path per input channel (nnU-Net ``_0000``, ``_0001``, ...).
        label: label map path (segmentation), or None for unlabelled cases.
        site: clinical site (acquisition centre); ranking and selection work per site.
        patient_id: splits are made per patient, so one patient never straddles train and test.
        split: a split fixed by the source, or None to let medselect assign it.
        target: image-level class index (classification tasks).
        landmarks: path to a JSON file ``{"name": [x, y(, z)], ...}`` in voxel index coordinates.
        attributes: any further manifest columns (scanner, age, ...), usable as ranking subgroups.
    """

    case_id: str
    images: tuple[str, ...]
    label: str | None = None
    site: str = "default"
    patient_id: str = ""
    split: Split | None = None
    target: int | None = None
    landmarks: str | None = None
    attributes: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.patient_id:
            object.__setattr__(self, "patient_id", self.case_id)

    @property
    def files(self) -> tuple[str, ...]:
        """Every file this case points to, images first."""
        extra = tuple(p for p in (self.label, self.landmarks) if p)
        return self.images + extra
