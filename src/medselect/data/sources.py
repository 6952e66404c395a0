"""Where dataset records come from: a manifest, an nnU-Net folder, a Decathlon/MONAI datalist,
or the knee phantom.

A folder with a ``dataset.json`` is a Decathlon/MONAI datalist when the JSON lists
``training`` cases, else an nnU-Net v2 raw dataset; a ``.json`` file is a datalist when it
lists ``training``, else a manifest. Who each case belongs to (patient, site) is applied after
reading, from the source's own columns or a :class:`~medselect.data.caseinfo.CaseInfo`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medselect.config import DatalistSource, DataSpec, ManifestSource, NnunetSource, PhantomSource
from medselect.data.case import CaseRecord
from medselect.data.caseinfo import CaseInfo
from medselect.data.datalist import is_datalist, read_datalist
from medselect.data.manifest import read_manifest
from medselect.data.nnunet import read_nnunet
from medselect.data.phantom import KNEE_CLASSES, KNEE_LANDMARKS, synth_knee_dataset
from medselect.data.phantom_sites import DEFAULT_SITES
from medselect.errors import DataError


@dataclass(frozen=True)
class SourceData:
    """Records read from a source, and what the source says about the task."""

    records: list[CaseRecord]
    kind: str  # manifest | nnunet | datalist | phantom
    path: Path
    classes: list[str] = field(default_factory=list)
    landmarks: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    spatial_dims: int | None = None  # what the source's metadata says, if anything
    notes: list[str] = field(default_factory=list)  # what reading left out, in words

    def describe(self) -> dict[str, Any]:
        """What the dataset version records as its ``source``."""
        return {"kind": self.kind, "path": str(self.path), **self.extra}


def read_source(path: str | Path) -> SourceData:
    """Read a CSV/JSON manifest, an nnU-Net raw folder or a Decathlon/MONAI datalist.

    Raises:
        DataError: the path is none of these, or the source is malformed (``DatasetInvalid``).
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "dataset.json").is_file():
            raise DataError(
                f"{path}: a folder source must hold a dataset.json (nnU-Net raw dataset or "
                "Decathlon/MONAI datalist); for other layouts write a CSV manifest "
                "(case_id,image,label,site,patient_id)"
            )
        if _lists_training(path / "dataset.json"):
            return _datalist(path)
        records, info = read_nnunet(path)
        labelled = [r for r in records if r.split != "test" or r.label]
        return SourceData(labelled, "nnunet", path, classes=list(info.get("classes", [])),
                          extra={"dataset": info.get("name", path.name)},
                          notes=_unlabelled_note(len(records) - len(labelled)))
    if path.suffix.lower() == ".json" and _lists_training(path):
        return _datalist(path)
    if path.suffix.lower() in (".csv", ".tsv", ".json"):
        return SourceData(read_manifest(path), "manifest", path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: not a manifest (.csv, .json), an nnU-Net folder nor a "
                    "Decathlon/MONAI dataset.json")


def _lists_training(file: Path) -> bool:
    """Whether a JSON file is a datalist; unreadable JSON is left to the reader to report."""
    try:
        return is_datalist(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def _datalist(path: Path) -> SourceData:
    records, info = read_datalist(path)
    return SourceData(records, "datalist", path, classes=info["classes"],
                      extra={"dataset": info["name"]}, spatial_dims=info["spatial_dims"],
                      notes=_unlabelled_note(info["unlabelled_test"]))


def _unlabelled_note(left: int) -> list[str]:
    """Test cases without labels cannot be scored, so an import leaves them out and says so."""
    return [f"{left} unlabelled test case{'s' if left != 1 else ''} left out (nothing to score "
            "them against); predict them with `medselect evaluate --cases FOLDER`"] if left else []


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
    extra = sorted(set(spec.site_cases) - {site.name for site in sites})
    if extra:
        raise DataError(f"data.source.site_cases: sites {extra} are not among the phantom's "
                        f"sites {[site.name for site in sites]}")
    records = synth_knee_dataset(
        out, cases_per_site={site.name: spec.site_cases.get(site.name, spec.cases_per_site)
                             for site in sites}, sites=sites, size=spec.size, seed=spec.seed,
        spatial_dims=spec.spatial_dims or 2,
    )
    return SourceData(
        records, "phantom", out, classes=list(KNEE_CLASSES), landmarks=list(KNEE_LANDMARKS),
        extra=spec.model_dump(mode="json"),
    )


def load_source(spec: DataSpec, phantom_folder: Path) -> SourceData:
    """The records an experiment's ``data.source`` describes (the phantom is written first),
    with the source's ``patients``, ``case_info`` and ``site`` applied."""
    source = spec.source
    if isinstance(source, PhantomSource):
        return synth_phantom(phantom_folder, source)
    if isinstance(source, ManifestSource | NnunetSource | DatalistSource):
        data = read_source(source.path)
        info = CaseInfo.of(patients=source.patients, case_info=source.case_info,
                           site=source.site)
        return replace(data, records=info.apply(data.records))
    raise DataError(f"data.source: unsupported kind {source.kind!r}")
