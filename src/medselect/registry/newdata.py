"""The data of an upgrade: a new dataset version holding the old cases and the new ones.

Old cases keep their split; new cases are split by the experiment's rules (patient-level,
stratified, seeded), and the import refuses any new training case that shares a patient or an
identical image with the frozen reference set (:class:`~medselect.errors.LeakageError`). A
case listed again with the same content is already there and is skipped; with other content
under the same id it is refused. When every case of the source is already in the newest
version, that version is the upgrade's data again, so an interrupted upgrade can be re-run.

Example::

    data = import_new_cases(ws, experiment, "site-d/manifest.csv")
    data.version_id, data.parent_id, data.new_test_cases
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medselect.config import Experiment
from medselect.data.case import CaseRecord
from medselect.data.importer import ImportResult, import_dataset, latest_training_version
from medselect.data.sources import read_source
from medselect.data.versions import case_digest
from medselect.errors import DataError, RegistryError
from medselect.store import Workspace, get_cases

__all__ = ["NewData", "import_new_cases", "stored_records"]


@dataclass(frozen=True)
class NewData:
    """The upgrade's dataset version and what is new in it.

    Attributes:
        imported: the import's result (version id, counts per site and split, case sets).
        parent_id: the version the new one was made from.
        source: the manifest or nnU-Net folder the new cases came from.
        new_cases: ids of the cases the parent did not have.
        new_test_cases: those of them in the test split.
    """

    imported: ImportResult
    parent_id: str
    source: str
    new_cases: tuple[str, ...]
    new_test_cases: tuple[str, ...]

    @property
    def version_id(self) -> str:
        return self.imported.version_id

    def to_dict(self) -> dict[str, Any]:
        return {"dataset_version": self.version_id, "parent_version": self.parent_id,
                "created": self.imported.created, "source": self.source,
                "n_cases": self.imported.n_cases, "counts": self.imported.counts,
                "new_cases": list(self.new_cases), "new_test_cases": list(self.new_test_cases),
                "test_case_set": self.imported.test_case_set,
                "reference_case_set": self.imported.reference_case_set}


def import_new_cases(
    ws: Workspace, experiment: Experiment, source: str | os.PathLike[str] | None,
    *, reviewed: Sequence[CaseRecord] = (),
) -> NewData:
    """Make the dataset version of the newest one's cases plus those of ``source`` and the
    ``reviewed`` cases (:mod:`.reviewed`: split ``train`` already, so the split rules leave
    them in training).

    Raises:
        RegistryError: the task has no dataset version yet, no frozen reference set, no new
            cases given, or nothing new (and no earlier upgrade to resume).
        DataError: the source is unreadable, or a case id is reused for other content.
        DatasetInvalid: a new case is unusable (every problem is listed).
        LeakageError: a new training case shares a patient or an image with the reference set.
    """
    task = experiment.task
    with ws.connect() as conn:
        parent = latest_training_version(conn, task.name)
        if parent is None:
            raise RegistryError(f"task {task.name!r} has no dataset yet; train a first sweep "
                                "(`medselect sweep run EXPERIMENT.yaml`) before upgrading")
        if not parent["reference_case_set"]:
            raise RegistryError(
                f"dataset version {parent['id']!r} has no frozen reference set, so new models "
                "cannot be compared with old ones; set data.split.freeze_reference: true and "
                "import the data again")
        old = stored_records(ws, get_cases(conn, parent["id"]))
    if source is None and not reviewed:
        raise RegistryError("an upgrade needs new cases: give a manifest or nnU-Net folder, "
                            "or reviewed cases of a set of new cases")
    records = [*(read_source(source).records if source is not None else ()), *reviewed]
    what = ("reviewed cases" if source is None else str(source))
    fresh = _unseen(records, old, what, parent["id"])
    if not fresh and not parent["parent_id"]:
        raise RegistryError(f"{what}: every case is already in dataset version "
                            f"{parent['id']!r}; give the new cases to upgrade with")
    origin = {"path": str(Path(source).resolve())} if source is not None else {}
    if reviewed:
        origin["reviewed_cases"] = sorted(r.case_id for r in reviewed)
    named = Path(source).name if source is not None else f"{len(reviewed)} reviewed"
    imported = import_dataset(
        ws, task, [*old, *fresh], split=experiment.data.split,
        source={"kind": "upgrade", **origin, "parent": parent["id"]},
        description=f"{parent['id']} + {len(fresh)} case(s) from {named}")
    base = parent["id"] if imported.created else imported.parent_id
    with ws.connect() as conn:
        before = {c["case_id"] for c in get_cases(conn, base)} if base else set()
        cases = get_cases(conn, imported.version_id)
    new = [c for c in cases if c["case_id"] not in before]
    return NewData(
        imported=imported, parent_id=base or parent["id"],
        source=str(Path(source).resolve()) if source is not None else what,
        new_cases=tuple(c["case_id"] for c in new),
        new_test_cases=tuple(c["case_id"] for c in new if c["split"] == "test"))


def stored_records(ws: Workspace, rows: Sequence[Mapping[str, Any]]) -> list[CaseRecord]:
    """Stored ``case`` rows as records pointing at their files in the workspace, split kept."""
    def path(uri: str | None) -> str | None:
        return None if uri is None else str(ws.path(uri))

    return [CaseRecord(case_id=r["case_id"], images=tuple(path(u) for u in r["image_uris"]),
                       label=path(r["label_uri"]), site=r["site"], patient_id=r["patient_id"],
                       split=r["split"], target=r["target"], landmarks=path(r["landmarks_uri"]),
                       attributes=dict(r["attributes"] or {}))
            for r in rows]


def _unseen(records: Sequence[CaseRecord], old: Sequence[CaseRecord],
            source: str | os.PathLike[str], parent: str) -> list[CaseRecord]:
    """The records not already in ``old``; a reused id with other content is refused."""
    known = {r.case_id: r for r in old}
    fresh = []
    for record in records:
        if record.case_id not in known:
            fresh.append(record)
        elif case_digest(record) != case_digest(known[record.case_id]):
            raise DataError(
                f"{source}: case {record.case_id!r} is already in dataset version {parent!r} "
                "with other content (files, site, patient or attributes); give a changed or "
                "different case a new case id")
    return fresh
