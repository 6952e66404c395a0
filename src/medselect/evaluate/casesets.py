"""Which cases an evaluation runs on: a named case set of the task, or new cases from a path.

Names are resolved by :func:`medselect.data.named_case_set`: ``val`` and ``test`` are the
validation and test splits of the task's latest training version, ``reference`` the frozen
reference set it is judged on, ``train`` and ``all`` its training split and every case of it,
anything else the id of a stored case set of the task. What is not a name is a path of new,
unseen cases (labelled or not), imported as a case set of kind ``new``:

- a CSV/JSON manifest or an nnU-Net raw dataset folder (``medselect.data.sources``), including
  one that holds only ``imagesTs/`` (+ ``labelsTs/``) beside its dataset.json;
- a plain folder of images: one case per file, or nnU-Net's channel naming
  (``<case>_0000.nii.gz``, ``<case>_0001.nii.gz``) for several channels. Labels come from a
  labels folder (:class:`NewCases` ``labels``), or from the sibling ``labelsTs/`` (``labelsTr/``)
  when the folder is an nnU-Net ``imagesTs/`` (``imagesTr/``), read with the dataset.json's
  ``file_ending`` when its parent has one.

New cases name no patient or site unless their manifest does; :class:`NewCases` carries a
:class:`~medselect.data.caseinfo.CaseInfo` that gives them (``--patients``, ``--case-info``,
``--site``).

Trained runs are scored only on cases they did not learn from: for them ``train`` and ``all``
are refused, and so are new cases (a path, or a stored ``new`` set by id) whose patient or image
is in the task's training data. Predictions made elsewhere never trained on the task's data, so
``allow_training_cases=True`` lifts both refusals for them.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medselect.config import TaskSpec
from medselect.data import CASE_SET_NAMES, named_case_set
from medselect.data.case import CaseRecord
from medselect.data.caseinfo import CaseInfo
from medselect.data.casesets import (
    REFERENCE,
    TEST,
    TRAINING_DATA_NAMES,
    VAL,
    add_training_data_set,
    is_training_data_set,
)
from medselect.data.importer import case_set_records, import_case_set, require_unseen
from medselect.data.nnunet import CHANNEL_FILE, nnunet_file_ending, read_nnunet
from medselect.data.readers import IMAGE_SUFFIXES, image_suffix
from medselect.data.sources import read_source
from medselect.errors import DataError, LeakageError, NotFound
from medselect.store import Workspace

__all__ = ["REFERENCE", "TEST", "VAL", "NewCases", "folder_records", "read_new_cases",
           "resolve_case_set"]

_LABELS_OF = {"imagesTr": "labelsTr", "imagesTs": "labelsTs"}
"""nnU-Net's images folders and the sibling folder that holds their labels."""
_LISTED = 5  # unmatched label files named before "and N more"


@dataclass(frozen=True)
class NewCases:
    """A path of new cases, with what its files do not say.

    A path given as a plain string is tried as a case set name first; a :class:`NewCases` is
    always a path, so that patients, sites and labels are never silently dropped.

    Args:
        path: a manifest, an nnU-Net folder, or a folder of images.
        labels: a folder of label maps ``<case_id><suffix>`` for a folder of images.
        info: patients, sites and attributes to give the cases.

    Example::

        >>> NewCases(Path("lyon/imagesTs"), info=CaseInfo.of(site="lyon"))
    """

    path: Path
    labels: Path | None = None
    info: CaseInfo = field(default_factory=CaseInfo)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.labels is not None:
            object.__setattr__(self, "labels", Path(self.labels))

    def __fspath__(self) -> str:
        """The path: a :class:`NewCases` goes wherever a path of cases does, and reports name
        it by its path."""
        return os.fspath(self.path)


def resolve_case_set(
    ws: Workspace, task: TaskSpec, which: str | os.PathLike[str] = TEST, *,
    allow_training_cases: bool = False,
) -> dict[str, Any]:
    """The ``case_set`` row ``which`` names, importing new cases from a path first.

    Args:
        which: ``"val"``, ``"test"``, ``"reference"``, ``"train"``, ``"all"``, a stored case set
            id of the task (see :func:`medselect.data.named_case_set`), a path of new cases, or
            :class:`NewCases`.
        allow_training_cases: the models to score never trained on the task's data
            (predictions made elsewhere): ``train`` and ``all`` are stored on first use, and new
            cases may be training cases. Leave it False for the task's runs.

    Raises:
        NotFound: the task has no data yet, no validation cases (``val``), no reference set,
            or no such path or case set.
        DataError: the path is not a manifest, an nnU-Net folder nor a folder of images, or
            its cases are unusable (``DatasetInvalid`` lists every problem).
        LeakageError: without ``allow_training_cases``: ``train`` or ``all``, or new cases in
            the training data of the task's models.
    """
    if isinstance(which, NewCases):
        return _import_new_cases(ws, task, which, allow_training_cases)
    text = os.fspath(which)
    if text in TRAINING_DATA_NAMES:
        return _training_data_set(ws, task, text, allow_training_cases)
    with ws.connect() as conn:
        try:
            row = named_case_set(conn, task.name, text)
        except NotFound as exc:
            if text in CASE_SET_NAMES:
                raise
            row, unnamed = None, exc
    if row is None:
        path = Path(text).expanduser()
        if not path.exists():
            raise NotFound(f"case set {text!r}: no such path, and {unnamed}") from None
        return _import_new_cases(ws, task, NewCases(path), allow_training_cases)
    if not allow_training_cases:
        _require_unseen_set(ws, task, row)
    return row


def _training_data_set(ws: Workspace, task: TaskSpec, which: str,
                       allow_training_cases: bool) -> dict[str, Any]:
    """The ``train`` / ``all`` set, stored on first use; refused for trained runs."""
    if not allow_training_cases:
        raise LeakageError(_trained_on(task.name, which))
    with ws.begin() as conn:
        return add_training_data_set(conn, task.name, which)


def _require_unseen_set(ws: Workspace, task: TaskSpec, row: dict[str, Any]) -> None:
    """Refuse a stored set (named by id) that holds the data the task's runs learn from.

    A ``new`` set stored for predictions made elsewhere may hold training cases, so it is
    checked again here; the splits' own sets are held out by construction.
    """
    if is_training_data_set(row):
        raise LeakageError(_trained_on(task.name, row["id"]))
    if row["kind"] == "new":
        require_unseen(ws, task.name, case_set_records(ws, row["id"]))


def _trained_on(task: str, which: str) -> str:
    return (f"case set {which!r} holds the cases task {task!r}'s runs were trained on, and a "
            f"model scored on its own training data says nothing about new patients, so runs "
            f"are never evaluated on it; evaluate runs on val, test, reference or new cases, "
            f"and score predictions made elsewhere on it with `predictions=`")


def _import_new_cases(ws: Workspace, task: TaskSpec, new: NewCases,
                      allow_training_cases: bool) -> dict[str, Any]:
    path = new.path.expanduser()
    if not path.exists():
        raise NotFound(f"{path}: no such file or folder of new cases (patients, sites and "
                       f"labels are given for new cases from a PATH, not for a stored case set)")
    records = new.info.apply(read_new_cases(path, labels=new.labels))
    return import_case_set(ws, task, records, path.stem or path.name,
                           source={"path": str(path.resolve())},
                           allow_training_cases=allow_training_cases)


def read_new_cases(path: str | os.PathLike[str],
                   labels: str | os.PathLike[str] | None = None) -> list[CaseRecord]:
    """Case records of a manifest, an nnU-Net raw folder, or a plain folder of images.

    Args:
        labels: a folder of label maps for a plain folder of images (see
            :func:`folder_records`); an nnU-Net ``imagesTs``/``imagesTr`` folder finds its
            sibling ``labelsTs``/``labelsTr`` without it.

    Raises:
        DataError: nothing readable as cases is there (the message says what was expected),
            or ``labels`` is given for a source that names its own labels.
    """
    path = Path(path)
    if path.is_dir() and not (path / "dataset.json").is_file():
        return folder_records(path, labels=Path(labels) if labels else _sibling_labels(path),
                              ending=nnunet_file_ending(path.parent) if path.name in _LABELS_OF
                              else None)
    if labels is not None:
        raise DataError(f"labels folder {labels}: {path} names its own labels (a manifest's "
                        f"label column, an nnU-Net folder's labelsTr/ and labelsTs/); give a "
                        f"labels folder only with a plain folder of images")
    if path.is_dir() and not (path / "imagesTr").is_dir():
        return read_nnunet(path, training_required=False)[0]
    return read_source(path).records


def _sibling_labels(folder: Path) -> Path | None:
    """``labelsTs/`` beside an nnU-Net ``imagesTs/`` (``labelsTr/`` beside ``imagesTr/``)."""
    name = _LABELS_OF.get(folder.name)
    sibling = folder.parent / name if name else None
    return sibling if sibling is not None and sibling.is_dir() else None


def folder_records(folder: Path, *, labels: Path | None = None,
                   ending: str | None = None) -> list[CaseRecord]:
    """One case per image file of ``folder`` (not its subfolders), labelled from ``labels``.

    Files named ``<case>_NNNN.<ext>`` are channels ``NNNN`` of case ``<case>`` (nnU-Net's
    naming), in channel order; other image files are one-channel cases named by their stem.
    A folder holding no image file but subfolders is read as one DICOM series per subfolder,
    each a one-channel case named by its folder.

    Args:
        labels: a folder of label maps named ``<case><suffix>`` (no channel number); a case
            without one is unlabelled.
        ending: read only files with this ending (nnU-Net's ``file_ending``); default every
            image suffix medselect reads.

    Raises:
        DataError: the folder holds no image file, a case's channels are not 0..n-1, or a
            label file names no case of the folder.
    """
    channels: dict[str, dict[int, Path]] = defaultdict(dict)
    for stem, file in _image_files(folder, ending):
        match = CHANNEL_FILE.match(stem)
        case_id, channel = (match["case"], int(match["channel"])) if match else (stem, 0)
        if channel in channels[case_id]:
            raise DataError(f"{folder}: case {case_id!r} has two files for channel {channel}: "
                            f"{channels[case_id][channel].name} and {file.name}; keep one")
        channels[case_id][channel] = file
    if not channels and ending is None:
        channels.update({d.name: {0: d} for d in sorted(folder.iterdir())
                         if d.is_dir() and not d.name.startswith(".")})
    if not channels:
        suffixes = ending or ", ".join(IMAGE_SUFFIXES)
        raise DataError(f"{folder}: no image files ({suffixes}); give a folder of images (or "
                        f"of DICOM series folders), a CSV/JSON manifest or an nnU-Net raw "
                        f"dataset folder")
    label_of = _label_files(labels, ending, channels) if labels is not None else {}
    records = []
    for case_id, files in sorted(channels.items()):
        if sorted(files) != list(range(len(files))):
            raise DataError(f"{folder}: case {case_id!r} has channels {sorted(files)}; number "
                            f"them _0000, _0001, ... without gaps")
        records.append(CaseRecord(case_id=case_id,
                                  images=tuple(str(files[i]) for i in sorted(files)),
                                  label=label_of.get(case_id)))
    return records


def _image_files(folder: Path, ending: str | None) -> list[tuple[str, Path]]:
    """(name without its ending, path) of each image file directly in ``folder``, by name."""
    found = []
    for file in sorted(folder.iterdir()):
        suffix = _ending_of(file, ending)
        if suffix is not None and file.is_file() and not file.name.startswith("."):
            found.append((file.name[: len(file.name) - len(suffix)], file))
    return found


def _ending_of(file: Path, ending: str | None) -> str | None:
    """The ending of ``file`` when it is read here: ``ending`` if given, else any suffix
    :func:`~medselect.data.readers.read_image` reads (``.nii.gz``, ``.png``, ...)."""
    if ending is not None:
        return ending if file.name.endswith(ending) else None
    suffix = image_suffix(file)
    return suffix if suffix in IMAGE_SUFFIXES else None


def _label_files(labels: Path, ending: str | None, cases: dict[str, Any]) -> dict[str, str]:
    """case id -> label file of a labels folder; every label must name a case.

    Raises:
        DataError: ``labels`` is not a folder, or label files name no case (a label named
            like an image channel, ``<case>_0000``, is the usual slip).
    """
    if not labels.is_dir():
        raise DataError(f"labels folder {labels} is not a folder; give the folder of label "
                        f"maps named <case_id><suffix>")
    found = {stem: str(file) for stem, file in _image_files(labels, ending)}
    stray = sorted(set(found) - set(cases))
    if stray:
        more = f" and {len(stray) - _LISTED} more" if len(stray) > _LISTED else ""
        raise DataError(f"{labels}: label files {', '.join(stray[:_LISTED])}{more} name no case "
                        f"of the images folder; name each label <case_id><suffix> as its "
                        f"images are named <case_id>_0000<suffix> (or <case_id><suffix>)")
    return found
