"""Turn checked case records into a stored, immutable dataset version.

Import is all-or-nothing: every case is checked first (all problems reported at once), splits
are assigned and checked for leakage, files are copied into the workspace's content-addressed
``data/`` folder, and only then is the version written in one transaction. A failure at any
step leaves the store as it was (copied blobs are named by content, so a leftover is harmless
and reused by the next import).

Every version gets a case set of its test split (``<version>-test``) and, when it has
validation cases, one of its validation split (``<version>-val``): the validation split is where
models are chosen, the test split where the choice is confirmed. The first version of a task
freezes its test split as the task's *reference set*; later versions keep every earlier case's
split and the same reference set, and no reference patient or image may enter their training
data. The result says, per site, how many patients and cases each split holds and warns about a
site the split leaves without training patients or with too few test patients
(:mod:`medselect.data.sitesplits`).

New, unseen cases to evaluate models on (:func:`import_case_set`) are stored the same way but as
a version of their own (every case in ``test``, ``source.kind`` :data:`NEW_CASES_SOURCE`) with a
case set of kind ``new``; such a version is never the one sweeps train on or later imports build
on (:func:`~medselect.data.casesets.latest_training_version`).
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medselect.config import Experiment, SplitSpec, TaskKind, TaskSpec
from medselect.data.case import CaseRecord
from medselect.data.caseinfo import slice_like_ids
from medselect.data.casesets import (
    NEW_CASES_SOURCE,
    TEST,
    TRAIN,
    VAL,
    latest_training_version,
    split_case_set_id,
)
from medselect.data.check import check_dataset
from medselect.data.leakage import require_no_leakage, require_no_split_leakage
from medselect.data.notices import DataWarning
from medselect.data.sitesplits import (
    SiteSplitCounts,
    site_split_counts,
    split_warnings,
)
from medselect.data.splits import assign_splits
from medselect.data.versions import case_digest, dataset_version_id, file_digest
from medselect.errors import DatasetInvalid, NotFound, Problem
from medselect.store import (
    Workspace,
    add_case_set,
    add_dataset_version,
    case_set_members,
    get_case_set,
    get_cases,
    get_dataset_version,
    get_task,
    put_task,
    serialize,
    set_reference_case_set,
)
from medselect.store.artifacts import atomic_path

__all__ = ["BLOB_DIR", "NEW_CASES_SOURCE", "ImportPlan", "ImportResult", "case_set_records",
           "import_case_set", "import_dataset", "import_experiment_data",
           "latest_training_version", "plan_import", "require_unseen"]

BLOB_DIR = "data"


@dataclass(frozen=True)
class ImportResult:
    """The stored version and how its cases fall into sites and splits.

    Args:
        counts: site -> split -> cases.
        patients: site -> split -> patients.
        test_case_set: id of the case set of the test split (it may be empty).
        val_case_set: id of the case set of the validation split; None without val cases.
        reference_case_set: the frozen reference set the version is judged on, if any.
        warnings: what the import warns about without refusing (:class:`ImportPlan`).
        notes: what reading the source decided (:attr:`medselect.data.intake.Intake.notes`).
    """

    version_id: str
    parent_id: str | None
    created: bool
    n_cases: int
    counts: dict[str, dict[str, int]]
    test_case_set: str
    reference_case_set: str | None
    val_case_set: str | None = None
    patients: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[DataWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def with_notes(self, notes: Sequence[str]) -> ImportResult:
        """The result with what reading the source decided for the user (spatial dims
        inferred, cases left out), for the summary."""
        return replace(self, notes=list(notes))

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["warnings"] = [w.to_dict() for w in self.warnings]
        return out


@dataclass(frozen=True)
class ImportPlan:
    """What an import would store, before anything is stored: ``data check`` shows it.

    Args:
        records: the cases with their splits (earlier versions' cases keep theirs).
        parent: the task's latest training version this one builds on, if any.
        reference: the frozen reference set (with its cases) the version is judged on.
        counts: site -> patients and cases per split.
        warnings: thin sites and test sets, and case ids that look like slices of fewer
            patients (:mod:`medselect.data.notices`).
    """

    records: list[CaseRecord]
    parent: dict[str, Any] | None
    reference: dict[str, Any] | None
    counts: dict[str, SiteSplitCounts]
    warnings: list[DataWarning]


def plan_import(
    ws: Workspace | None,
    task: TaskSpec,
    records: Sequence[CaseRecord],
    *,
    split: SplitSpec | None = None,
    problems: Sequence[Problem] = (),
    source: str = "dataset",
) -> ImportPlan:
    """Check ``records`` against ``task``, split them and check the split for leakage.

    Args:
        ws: the workspace whose earlier versions and reference set the split must respect;
            None plans as the task's first version.
        problems: problems found before (reading the source, mapping patients), reported
            together with the check's.
        source: what the records came from, for messages.

    Raises:
        DatasetInvalid: every problem: those given and every unusable case or file.
        LeakageError: a patient or image would be in training and in a test set.
        DataError: the splits cannot be made (too few patients).
    """
    split = split or SplitSpec()
    problems = list(problems)
    if records or not problems:  # "no cases" adds nothing to a source that failed to read
        problems += check_dataset(records, _label_classes(task), spatial_dims=task.spatial_dims)
    if problems:
        raise DatasetInvalid(problems, source=source, valid=records)
    parent = reference = None
    parent_cases: dict[str, dict[str, Any]] = {}
    if ws is not None:
        with ws.connect() as conn:
            parent = latest_training_version(conn, task.name)
            parent_cases = {c["case_id"]: c for c in get_cases(conn, parent["id"])
                            } if parent else {}
            reference = _reference(conn, parent)
    hint = slice_like_ids(records)
    records = assign_splits(
        [_keep_split(r, parent_cases) for r in records], split.fractions.as_dict(),
        stratify_by=split.stratify_by, seed=split.seed, held_out_sites=split.held_out_sites,
    )
    require_no_split_leakage(records)
    if reference:
        _require_reference_untouched(ws, records, reference)
    counts = site_split_counts(records)
    warnings = split_warnings(counts, held_out_sites=split.held_out_sites)
    if parent:
        warnings += _held_out_no_more(parent, records, parent_cases, split.held_out_sites)
    if hint:
        warnings.insert(0, DataWarning("slice_like_ids", hint.message))
    return ImportPlan(records, parent, reference, counts, warnings)


def import_dataset(
    ws: Workspace,
    task: TaskSpec,
    records: Sequence[CaseRecord],
    *,
    split: SplitSpec | None = None,
    source: Mapping[str, Any] | None = None,
    description: str = "",
    ranking: Mapping[str, Any] | None = None,
    problems: Sequence[Problem] = (),
) -> ImportResult:
    """Check, split and store ``records`` as a new dataset version of ``task``.

    Args:
        ranking: the experiment's ranking section as JSON, stored with the task in the same
            transaction; None leaves the task's stored one as it is.
        problems: problems found before (see :func:`plan_import`).

    Raises:
        DatasetInvalid: a case or file is unusable (every problem is listed).
        LeakageError: a patient or image would be in training and in a test set.
        DataError: the splits cannot be made (too few patients).
    """
    split = split or SplitSpec()
    plan = plan_import(ws, task, records, split=split, problems=problems,
                       source=str((source or {}).get("path", task.name)))
    records, parent, reference = plan.records, plan.parent, plan.reference
    digests = {r.case_id: case_digest(r) for r in records}
    version_id = dataset_version_id(records, digests, task=task.name)
    case_rows = [_store_files(ws, r, digests[r.case_id]) for r in records]
    test_ids = sorted(r.case_id for r in records if r.split == TEST)
    val_ids = sorted(r.case_id for r in records if r.split == VAL)
    with ws.begin() as conn:
        serialize(conn, f"task:{task.name}")  # imports of one task, in turn
        put_task(conn, task.name, task.kind, task.model_dump(mode="json"), ranking=ranking)
        existing = _get_version(conn, version_id)
        parent_id = existing["parent_id"] if existing else (parent["id"] if parent else None)
        version = add_dataset_version(conn, {
            "id": version_id, "task": task.name, "parent_id": parent_id,
            "description": description, "source": _with_held_out(source, split),
        }, case_rows)
        test_set = _add_split_set(conn, task.name, version_id, TEST, test_ids)
        val_set = _add_split_set(conn, task.name, version_id, VAL, val_ids) if val_ids else None
        reference_id = reference["id"] if reference else None
        if reference_id is None and split.freeze_reference and test_ids:
            reference_id = f"{version_id}-reference"
            add_case_set(conn, {
                "id": reference_id, "name": "reference", "task": task.name,
                "dataset_version": version_id, "kind": "reference", "frozen": True,
            }, test_ids)
        if reference_id and version["reference_case_set"] != reference_id:
            set_reference_case_set(conn, version_id, reference_id)
    return ImportResult(
        version_id=version_id, parent_id=parent_id,
        created=existing is None, n_cases=len(records),
        counts=_nonzero(plan.counts, "cases"), patients=_nonzero(plan.counts, "patients"),
        test_case_set=test_set["id"], val_case_set=val_set["id"] if val_set else None,
        reference_case_set=reference_id, warnings=plan.warnings,
    )


def _with_held_out(source: Mapping[str, Any] | None, split: SplitSpec) -> dict[str, Any]:
    """The version's source record, with the sites its split held out of training (so a later
    import can tell when it stops holding them out)."""
    held = {"held_out_sites": sorted(split.held_out_sites)} if split.held_out_sites else {}
    return {**(source or {}), **held}


def _add_split_set(conn, task: str, version_id: str, split: str,
                   case_ids: Sequence[str]) -> dict[str, Any]:
    """The case set of one split (``test`` or ``val``) of a version, named and kinded by it."""
    return add_case_set(conn, {
        "id": split_case_set_id(version_id, split), "name": split, "task": task,
        "dataset_version": version_id, "kind": split,
    }, case_ids)


def _nonzero(by_site: Mapping[str, SiteSplitCounts], what: str) -> dict[str, dict[str, int]]:
    """site -> split -> count of ``what`` (``cases`` or ``patients``), empty splits left out."""
    return {site: {k: n for k, n in getattr(c, what).items() if n}
            for site, c in by_site.items()}


def import_case_set(
    ws: Workspace,
    task: TaskSpec,
    records: Sequence[CaseRecord],
    name: str,
    *,
    source: Mapping[str, Any] | None = None,
    allow_training_cases: bool = False,
) -> dict[str, Any]:
    """Store unseen cases (labelled or not) as a case set of kind ``new``; return its row.

    The cases are checked like an import (every problem at once), copied into ``data/`` by
    content and stored as a dataset version of their own (all in ``test``), whose parent is the
    task's latest training version; training splits and the reference set are left alone.
    Importing the same cases again returns the same case set. Patients and sites are the
    records' own (give them with :class:`~medselect.data.caseinfo.CaseInfo` first).

    Args:
        name: the case set's name, e.g. the folder's name.
        source: what the version records as its source (e.g. ``{"path": ...}``).
        allow_training_cases: store cases even if they are in the task's training data, for
            models that never trained on it (predictions made elsewhere); the task's runs
            must then not be evaluated on the set (:func:`require_unseen` refuses it).

    Raises:
        DatasetInvalid: a case or file is unusable (every problem is listed).
        LeakageError: a case's patient or image is in the training data of the task's models
            (unless ``allow_training_cases``).
    """
    problems = check_dataset(records, _label_classes(task), spatial_dims=task.spatial_dims)
    if problems:
        raise DatasetInvalid(problems, source=str((source or {}).get("path", name)))
    records = [replace(r, split="test") for r in records]
    if not allow_training_cases:
        require_unseen(ws, task.name, records)
    with ws.connect() as conn:
        parent = latest_training_version(conn, task.name)
    digests = {r.case_id: case_digest(r) for r in records}
    version_id = dataset_version_id(records, digests, task=task.name)
    case_rows = [_store_files(ws, r, digests[r.case_id]) for r in records]
    with ws.begin() as conn:
        serialize(conn, f"task:{task.name}")  # imports of one task, in turn
        if _get_task(conn, task.name) is None:
            put_task(conn, task.name, task.kind, task.model_dump(mode="json"))
        add_dataset_version(conn, {
            "id": version_id, "task": task.name, "parent_id": parent["id"] if parent else None,
            "description": f"new cases {name}",
            "source": {**(source or {}), "kind": NEW_CASES_SOURCE, "name": name},
        }, case_rows)
        return add_case_set(conn, {
            "id": f"{version_id}-new", "name": name, "task": task.name,
            "dataset_version": version_id, "kind": "new",
        }, sorted(digests))


def require_unseen(ws: Workspace, task: str, records: Sequence[CaseRecord]) -> None:
    """Refuse cases that the task's trained models may have learnt from.

    A case is seen when its patient or its image is in the training data (train and val
    splits) of the task's latest training version; a model scored on it would look better than
    it is on new patients.

    Raises:
        LeakageError: naming every such case, why it is refused and what to do instead.
        DataError: an image file has to be hashed and cannot be read.
    """
    with ws.connect() as conn:
        parent = latest_training_version(conn, task)
        training = [c for c in get_cases(conn, parent["id"]) if c["split"] in (TRAIN, VAL)
                    ] if parent else []
    require_no_leakage(
        [_stored_record(ws, c) for c in training], records,
        message=f"these cases are in the training data of task {task!r}, so its trained "
                f"models would be scored on cases they learnt from; leave them out (predictions "
                f"made elsewhere may be scored on them: `predictions=`)")


def case_set_records(ws: Workspace, case_set_id: str) -> list[CaseRecord]:
    """The cases of a stored case set as records (workspace files, patients, sites, splits).

    Raises:
        NotFound: no such case set.
    """
    with ws.connect() as conn:
        return [_stored_record(ws, c) for c in case_set_members(conn, case_set_id)]


def _get_version(conn, version_id: str) -> dict[str, Any] | None:
    try:
        return get_dataset_version(conn, version_id)
    except NotFound:
        return None


def _reference(conn, parent: dict[str, Any] | None) -> dict[str, Any] | None:
    if not parent or not parent.get("reference_case_set"):
        return None
    case_set = get_case_set(conn, parent["reference_case_set"])
    members = case_set_members(conn, case_set["id"])
    cases = {c["case_id"]: c for c in get_cases(conn, case_set["dataset_version"])}
    return {**case_set, "cases": [cases[m["case_id"]] for m in members]}


def _held_out_no_more(parent: Mapping[str, Any], records: Sequence[CaseRecord],
                      parent_cases: Mapping[str, Any],
                      held_out: Collection[str]) -> list[DataWarning]:
    """A warning per site that ``parent`` held out of training and this import, not holding it
    out, puts new patients of in training: the site's figures would stop measuring transfer
    to an unseen hospital without anyone having asked for it."""
    warnings = []
    for site in (parent["source"] or {}).get("held_out_sites", []):
        trained = {r.patient_id for r in records if r.site == site and r.split == TRAIN
                   and r.case_id not in parent_cases}
        if site not in held_out and trained:
            warnings.append(DataWarning("held_out_site_trained", (
                f"site {site!r} was held out of training in dataset version {parent['id']}; "
                f"this import puts {len(trained)} of its new patients in training, so models "
                f"trained on it no longer meet the site unseen. To keep it out, list it in "
                f"data.split.held_out_sites (data import: `held_out_sites=`)"), site))
    return warnings


def _keep_split(record: CaseRecord, parent_cases: Mapping[str, dict[str, Any]]) -> CaseRecord:
    """A case already in the parent version keeps its split, so test cases stay test cases."""
    known = parent_cases.get(record.case_id)
    return replace(record, split=known["split"]) if known else record


def _require_reference_untouched(
    ws: Workspace, records: Sequence[CaseRecord], reference: Mapping[str, Any]
) -> None:
    """No patient or image of the frozen reference set may be used for training."""
    ref_records = [_stored_record(ws, c, split="test") for c in reference["cases"]]
    training = [r for r in records if r.split in ("train", "val")]
    require_no_leakage(training, ref_records)


def _stored_record(ws: Workspace, row: Mapping[str, Any], split: str | None = None) -> CaseRecord:
    """A stored case as the record leakage checks read (its images, patient and site)."""
    images = tuple(str(ws.path(u)) for u in row["image_uris"])
    return CaseRecord(case_id=row["case_id"], images=images, patient_id=row["patient_id"],
                      site=row["site"], split=split or row["split"])


def _get_task(conn, name: str) -> dict[str, Any] | None:
    try:
        return get_task(conn, name)
    except NotFound:
        return None


def _store_files(ws: Workspace, record: CaseRecord, digest: str) -> dict[str, Any]:
    """Copy the case's files into ``data/`` by content; return its ``case`` row."""
    return {
        "case_id": record.case_id,
        "patient_id": record.patient_id,
        "site": record.site,
        "split": record.split,
        "image_uris": [_store_blob(ws, p) for p in record.images],
        "label_uri": _store_blob(ws, record.label) if record.label else None,
        "landmarks_uri": _store_blob(ws, record.landmarks) if record.landmarks else None,
        "target": record.target,
        "content_hash": digest,
        "attributes": dict(record.attributes),
    }


def _store_blob(ws: Workspace, path: str) -> str:
    src = Path(path)
    digest = file_digest(src)
    rel = f"{BLOB_DIR}/{digest[:2]}/{digest}{_suffix(src)}"
    dest = ws.path(rel)
    if dest.exists():
        return rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        if src.is_dir():
            shutil.copytree(src, tmp)
        else:
            shutil.copyfile(src, tmp)
    return rel


def _suffix(path: Path) -> str:
    if path.is_dir():
        return ""
    name = path.name.lower()
    for double in (".nii.gz", ".nrrd.gz"):
        if name.endswith(double):
            return double
    return path.suffix.lower()


def import_experiment_data(ws: Workspace, experiment: Experiment) -> ImportResult:
    """Make (or find) the dataset version an experiment's ``data:`` section describes, and
    store the experiment's ``ranking:`` section with the task."""
    from medselect.data.sources import load_source

    source = experiment.data.source
    folder = ws.path(f"sources/{experiment.task.name}-{source.kind}")
    data = load_source(experiment.data, folder)
    return import_dataset(
        ws, experiment.task, data.records, split=experiment.data.split,
        source=data.describe(), description=f"{data.kind} {data.path.name}",
        ranking=experiment.ranking.model_dump(mode="json"),
    )


def _label_classes(task: TaskSpec) -> list[str] | None:
    """The classes label maps are checked against: a classification task's classes name its
    image-level targets (checked when training), not the values of the anatomy label maps."""
    if task.family is TaskKind.CLASSIFICATION:
        return None
    return list(task.classes) or None
