"""Which cases an evaluation runs on: a named case set of the task, or new cases from a path.

Names are resolved by :func:`medselect.data.named_case_set`: ``val`` and ``test`` are the
validation and test splits of the task's latest training version, ``reference`` the frozen
reference set it is judged on, anything else the id of a stored case set of the task. What is
not a name is a path of new, unseen cases (labelled or not), imported as a case set of kind
``new``:

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
from medselect.data import CASE_SET_NAMES, named_case_set
from medselect.data.case import CaseRecord
from medselect.data.casesets import REFERENCE, TEST, VAL
from medselect.data.importer import import_case_set
from medselect.data.nnunet import CHANNEL_FILE
from medselect.data.readers import IMAGE_SUFFIXES, image_suffix
from medselect.data.sources import read_source
from medselect.errors import DataError, NotFound
from medselect.store import Workspace

__all__ = ["REFERENCE", "TEST", "VAL", "folder_records", "read_new_cases", "resolve_case_set"]


def resolve_case_set(
    ws: Workspace, task: TaskSpec, which: str | os.PathLike[str] = TEST, *,
    site: str | None = None,
) -> dict[str, Any]:
    """The ``case_set`` row ``which`` names, importing new cases from a path first.

    Args:
        which: ``"val"``, ``"test"``, ``"reference"``, a stored case set id of the task
            (see :func:`medselect.data.named_case_set`), or a path of new cases.
        site: site of new cases that name none (a plain folder of images).

    Raises:
        NotFound: the task has no data yet, no validation cases (``val``), no reference set,
            or no such path or case set.
        DataError: the path is not a manifest, an nnU-Net folder nor a folder of images, or
            its cases are unusable (``DatasetInvalid`` lists every problem).
        LeakageError: a new case is in the training data of the task's models.
    """
    text = os.fspath(which)
    with ws.connect() as conn:
        try:
            return named_case_set(conn, task.name, text)
        except NotFound as exc:
            if text in CASE_SET_NAMES:
                raise
            unnamed = exc
    path = Path(text).expanduser()
    if not path.exists():
        raise NotFound(f"case set {text!r}: no such path, and {unnamed}") from None
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
