"""Where dataset records come from: a manifest, an nnU-Net folder, or the knee phantom."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medselect.config import DataSpec, ManifestSource, NnunetSource, PhantomSource
from medselect.data.case import CaseRecord
from medselect.data.manifest import read_manifest
from medselect.data.nnunet import read_nnunet
from medselect.data.phantom import KNEE_CLASSES, KNEE_LANDMARKS, synth_knee_dataset
from medselect.data.phantom_sites import DEFAULT_SITES
from medselect.errors import DataError


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


def synth_phantom(out: Path, spec: PhantomSource) -> SourceData:
    """Write the knee phantom described by ``spec`` to ``out`` and return it as a source.

    Raises:
        DataError: ``spec.sites`` names a site the phantom does not have.
    """
    if isinstance(spec.sites, int):
        sites = DEFAULT_SITES[: spec.sites]
    else:
        known = {site.name: site for site in DEFAULT_SITES}
        unknown = sorted(set(spec.sites) - set(known))
        if unknown:
            raise DataError(f"data.source.sites: unknown phantom sites {unknown}; "
                            f"choose from {sorted(known)}")
        sites = [known[name] for name in spec.sites]
    records = synth_knee_dataset(
        out, cases_per_site=spec.cases_per_site, sites=sites, size=spec.size, seed=spec.seed,
        spatial_dims=spec.spatial_dims or 2,
    )
    return SourceData(
        records, "phantom", out, classes=list(KNEE_CLASSES), landmarks=list(KNEE_LANDMARKS),
        extra=spec.model_dump(mode="json"),
    )


def load_source(spec: DataSpec, phantom_folder: Path) -> SourceData:
    """The records an experiment's ``data.source`` describes (the phantom is written first)."""
    source = spec.source
    if isinstance(source, PhantomSource):
        return synth_phantom(phantom_folder, source)
    if isinstance(source, ManifestSource | NnunetSource):
        return read_source(source.path)
    raise DataError(f"data.source: unsupported kind {source.kind!r}")
