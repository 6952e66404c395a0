"""Read a Medical Segmentation Decathlon / MONAI datalist ``dataset.json`` as case records.

The format MONAI's ``load_decathlon_datalist`` reads (``http://medicaldecathlon.com``)::

    {"name": "Heart", "tensorImageSize": "3D", "labels": {"0": "background", "1": "left atrium"},
     "training":   [{"image": "./imagesTr/la_003.nii.gz", "label": "./labelsTr/la_003.nii.gz"}],
     "validation": [{"image": ..., "label": ...}],        optional (MONAI), split "val"
     "test":       ["./imagesTs/la_001.nii.gz", ...]}      or "testing"; dicts also accepted

Paths resolve against the file's folder, as in MONAI. ``image`` may be a list of channel files;
``label`` is a label map path, or an integer class (a classification datalist). Training cases
get no split (medselect assigns train/val/test by patient), validation cases split ``val`` and
labelled test cases split ``test``; unlabelled test cases (the Decathlon's own test set) cannot
be scored, so they are left out and counted. A ``fold`` key is kept as an attribute.

This is read here rather than through MONAI, so reading a source never imports torch and every
problem (missing file, entry without image, repeated case) is listed at once.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, TypedDict

from medselect.data.case import CaseRecord, Split
from medselect.data.nnunet import CHANNEL_FILE
from medselect.data.readers import image_suffix
from medselect.errors import DatasetInvalid, Problem

__all__ = ["DatalistInfo", "is_datalist", "read_datalist"]

_SPLIT_OF_KEY: dict[str, Split | None] = {"training": None, "validation": "val", "test": "test",
                                          "testing": "test"}
_DIMS = {"2D": 2, "3D": 3, "4D": 3}  # 4D: 3D with the modalities as a 4th axis


class DatalistInfo(TypedDict):
    """What the datalist says about the task, beside the cases."""

    name: str
    classes: list[str]  # label names by value, from "labels"; empty when it has none
    spatial_dims: int | None  # from "tensorImageSize"
    unlabelled_test: int  # test cases left out because they have no label


def is_datalist(meta: object) -> bool:
    """Whether a parsed ``dataset.json`` is a Decathlon/MONAI datalist (it lists ``training``)."""
    return isinstance(meta, dict) and isinstance(meta.get("training"), list)


def read_datalist(path: str | os.PathLike[str]) -> tuple[list[CaseRecord], DatalistInfo]:
    """The labelled cases of a datalist file (or a folder holding ``dataset.json``).

    Raises:
        DatasetInvalid: with every problem: unreadable JSON, no ``training`` list, an entry
            without an image, a file that does not exist, a case id used twice.
    """
    file = Path(path) / "dataset.json" if Path(path).is_dir() else Path(path)
    where = str(file)
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetInvalid([Problem("dataset.json does not exist", file=where)],
                             source=where) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetInvalid([Problem(f"not valid JSON ({exc}); fix the syntax", file=where)],
                             source=where) from None
    if not is_datalist(meta):
        raise DatasetInvalid([Problem('expected a datalist with a "training" list of '
                                      '{"image": ..., "label": ...}', file=where)], source=where)
    problems: list[Problem] = []
    records: list[CaseRecord] = []
    unlabelled = 0
    for key, split in _SPLIT_OF_KEY.items():
        for number, entry in enumerate(meta.get(key) or [], start=1):
            record = _record(entry, f"{key} entry {number}", split, file.parent, where, problems)
            if record is None:
                continue
            if split == "test" and record.label is None and record.target is None:
                unlabelled += 1
            else:
                records.append(record)
    seen: dict[str, int] = {}
    for record in records:
        seen[record.case_id] = seen.get(record.case_id, 0) + 1
    problems += [Problem(f"case id appears {n} times (from the image file names); rename "
                         "the files", case_id=case_id, file=where)
                 for case_id, n in seen.items() if n > 1]
    if problems:
        raise DatasetInvalid(problems, source=where, valid=records)
    labels = meta.get("labels") or {}
    classes = [_class_name(labels[k]) for k in sorted(labels, key=_int_or_inf)
               ] if isinstance(labels, dict) else []
    info = DatalistInfo(name=str(meta.get("name") or file.parent.name), classes=classes,
                        spatial_dims=_DIMS.get(str(meta.get("tensorImageSize", "")).upper()),
                        unlabelled_test=unlabelled)
    return records, info


def _record(entry: Any, where: str, split: Split | None, folder: Path, file: str,
            problems: list[Problem]) -> CaseRecord | None:
    """One entry as a record, or None after adding its problems."""
    entry = {"image": entry} if isinstance(entry, str) else entry
    images = entry.get("image") if isinstance(entry, dict) else None
    images = [images] if isinstance(images, str) else images
    if not images or not all(isinstance(p, str) and p for p in images):
        problems.append(Problem(f"{where}: needs \"image\": a path or a list of paths",
                                file=file))
        return None
    channels = tuple(os.path.normpath(folder / p) for p in images)
    label = entry.get("label")
    target = label if isinstance(label, int) and not isinstance(label, bool) else None
    label = os.path.normpath(folder / label) if isinstance(label, str) and label else None
    case_id = _case_id(channels[0])
    before = len(problems)
    for path in (*channels, label):
        if path and not os.path.exists(path):
            problems.append(Problem(f"{where}: file does not exist (paths resolve against "
                                    f"{folder})", case_id=case_id, file=path))
    if len(problems) > before:
        return None
    fold = entry.get("fold")
    return CaseRecord(case_id, channels, label=label, split=split, target=target,
                      attributes={"fold": str(fold)} if fold is not None else {})


def _case_id(image: str) -> str:
    """The image file's name without its ending and without an nnU-Net channel suffix."""
    name = Path(image).name
    stem = name[: len(name) - len(image_suffix(name))] if image_suffix(name) else name
    match = CHANNEL_FILE.match(stem)
    return match["case"] if match else stem


def _class_name(label: object) -> str:
    """A Decathlon label name as a class name (``left atrium`` -> ``left_atrium``)."""
    return re.sub(r"[^\w.-]+", "_", str(label).strip()).strip("_") or "class"


def _int_or_inf(key: str) -> float:
    try:
        return int(key)
    except ValueError:
        return float("inf")
