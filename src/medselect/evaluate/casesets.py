"""Which cases an evaluation runs on: the test split, the frozen reference set, or new cases.

``test`` is the test split of the task's latest training version and ``reference`` the frozen
reference set it is judged on. Anything else is the id of a stored case set, or a path of new,
unseen cases (labelled or not), imported as a case set of kind ``new``:

- a CSV/JSON manifest or an nnU-Net raw dataset folder (``medselect.data.sources``);
- a plain folder of images: one case per file, or nnU-Net's channel naming
  (``<case>_0000.nii.gz``, ``<case>_0001.nii.gz``) for several channels. Such cases have no
  label and site ``default``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from medselect.config import TaskSpec
from medselect.data.case import CaseRecord
from medselect.data.importer import import_case_set, latest_training_version
from medselect.data.nnunet import CHANNEL_FILE
from medselect.data.readers import IMAGE_SUFFIXES, image_suffix
from medselect.data.sources import read_source
from medselect.errors import DataError, NotFound
from medselect.store import Workspace, get_case_set

TEST = "test"
REFERENCE = "reference"



def resolve_case_set(
    ws: Workspace, task: TaskSpec, which: str | os.PathLike[str] = TEST, *,
    site: str | None = None,
) -> dict[str, Any]:
    """The ``case_set`` row ``which`` names, importing new cases from a path first.

    Args:
        which: ``"test"``, ``"reference"``, a stored case set id of the task, or a path.
        site: site of new cases that name none (a plain folder of images).

    Raises:
        NotFound: the task has no data yet, no reference set, or no such path or case set.
        DataError: the path is not a manifest, an nnU-Net folder nor a folder of images, or
            its cases are unusable (``DatasetInvalid`` lists every problem).
        LeakageError: a new case is in the training data of the task's models.
    """
    text = os.fspath(which)
    if text in (TEST, REFERENCE):
        with ws.connect() as conn:
            version = latest_training_version(conn, task.name)
            if version is None:
                raise NotFound(f"task {task.name!r} has no dataset version; run `medselect "
                               f"data import` or `medselect sweep run` first")
            if text == TEST:
                return get_case_set(conn, f"{version['id']}-test")
            if not version["reference_case_set"]:
                raise NotFound(f"dataset version {version['id']!r} of task {task.name!r} has "
                               f"no frozen reference set; evaluate on 'test' or a path")
            return get_case_set(conn, version["reference_case_set"])
    stored = _stored_case_set(ws, task, text)
    if stored is not None:
        return stored
    path = Path(text).expanduser()
    if not path.exists():
        raise NotFound(f"case set {text!r}: no such path, and not 'test', 'reference' or a "
                       f"case set id of task {task.name!r}")
    records = read_new_cases(path)
    return import_case_set(ws, task, records, path.stem or path.name, site=site,
                           source={"path": str(path.resolve())})


def read_new_cases(path: str | os.PathLike[str]) -> list[CaseRecord]:
    """Case records of a manifest, an nnU-Net raw folder, or a plain folder of images.

    Raises:
        DataError: nothing readable as cases is there (the message says what was expected).
    """
    path = Path(path)
    if path.is_dir() and not (path / "dataset.json").is_file():
        return folder_records(path)
    return read_source(path).records


def folder_records(folder: Path) -> list[CaseRecord]:
    """One unlabelled case per image file of ``folder`` (not its subfolders).

    Files named ``<case>_NNNN.<ext>`` are channels ``NNNN`` of case ``<case>`` (nnU-Net's
    naming), in channel order; other image files are one-channel cases named by their stem.

    Raises:
        DataError: the folder holds no image file, or a case's channels are not 0..n-1.
    """
    channels: dict[str, dict[int, str]] = defaultdict(dict)
    for file in sorted(folder.iterdir()):
        suffix = image_suffix(file)
        if not file.is_file() or suffix not in IMAGE_SUFFIXES:
            continue
        stem = file.name[: len(file.name) - len(suffix)]
        match = CHANNEL_FILE.match(stem)
        case_id, channel = (match["case"], int(match["channel"])) if match else (stem, 0)
        if channel in channels[case_id]:
            raise DataError(f"{folder}: case {case_id!r} has two files for channel {channel}: "
                            f"{Path(channels[case_id][channel]).name} and {file.name}; "
                            f"keep one")
        channels[case_id][channel] = str(file)
    if not channels:
        raise DataError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}); give a folder "
                        f"of images, a CSV/JSON manifest or an nnU-Net raw dataset folder")
    records = []
    for case_id, files in sorted(channels.items()):
        if sorted(files) != list(range(len(files))):
            raise DataError(f"{folder}: case {case_id!r} has channels {sorted(files)}; number "
                            f"them _0000, _0001, ... without gaps")
        records.append(CaseRecord(case_id=case_id, images=tuple(files[i] for i in sorted(files))))
    return records


def _stored_case_set(ws: Workspace, task: TaskSpec, case_set_id: str) -> dict[str, Any] | None:
    with ws.connect() as conn:
        try:
            row = get_case_set(conn, case_set_id)
        except NotFound:
            return None
    return row if row["task"] == task.name else None
