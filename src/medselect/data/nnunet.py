"""Import an nnU-Net v2 raw dataset folder as case records.

The layout (nnU-Net's ``dataset_format.md``)::

    Dataset001_Knee/
        dataset.json        channel_names, labels, numTraining, file_ending
        imagesTr/<case>_0000<file_ending>   (+ _0001, ... one file per channel)
        labelsTr/<case><file_ending>
        imagesTs/<case>_0000<file_ending>   optional: test cases, split "test"
        labelsTs/<case><file_ending>        optional, not nnU-Net's: labels of the test cases

Training cases get no split (medselect assigns train/val). nnU-Net has no notion of a clinical
site: every case is in site ``"default"`` unless ``site_of`` names it. New cases to evaluate on
often come as a folder of ``imagesTs/`` (+ ``labelsTs/``) and dataset.json alone:
``read_nnunet(folder, training_required=False)`` reads it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from medselect.data.case import CaseRecord, Split
from medselect.errors import DatasetInvalid, Problem

__all__ = ["NnunetInfo", "nnunet_file_ending", "read_nnunet"]

CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
"""An nnU-Net image file name without its ending: ``<case>_<4-digit channel>``."""
_REQUIRED_KEYS = ("channel_names", "labels", "numTraining", "file_ending")
_TRAINING_KEYS = ("numTraining",)  # required only of a dataset to train on


class NnunetInfo(TypedDict):
    """What dataset.json says about the task, beside the cases."""

    name: str  # dataset.json's "name", else the folder name
    classes: list[str]  # label names by value: classes[0] is the background
    labels: dict[str, int]  # dataset.json's "labels", ordered by value
    channels: list[str]  # channel names by index (_0000, _0001, ...)
    file_ending: str


def read_nnunet(
    folder: str | os.PathLike[str], *, site_of: Callable[[str], str] | None = None,
    training_required: bool = True,
) -> tuple[list[CaseRecord], NnunetInfo]:
    """Read the cases and label names of an nnU-Net v2 raw dataset.

    Args:
        folder: the dataset folder (holding ``dataset.json``).
        site_of: case id -> site name (a ``dict.__getitem__`` of a sites table works); a
            KeyError becomes a problem naming the case.
        training_required: whether ``imagesTr/`` must be there (a dataset to train on). False
            for new cases to evaluate on: ``imagesTs/`` alone will do, and dataset.json needs
            no ``numTraining``; whatever folders are there are still checked in full.

    Returns:
        The records (training cases, then test cases, each sorted by id) and what
        dataset.json says of the task (:class:`NnunetInfo`: name, classes, labels, ...).

    Raises:
        DatasetInvalid: with every problem: missing or malformed dataset.json, missing keys,
            labels that are not 0..n-1, a case missing a channel or its label, a label without
            images, numTraining not matching imagesTr; without ``training_required``, neither
            imagesTr/ nor imagesTs/.
    """
    root = Path(folder)
    meta_file = root / "dataset.json"
    meta, problems = _load_meta(meta_file, training_required=training_required)
    if meta is None:
        raise DatasetInvalid(problems, source=str(root))
    channels = len(meta["channel_names"])
    ending = meta["file_ending"]
    labels = dict(sorted(meta["labels"].items(), key=lambda item: item[1]))
    records: list[CaseRecord] = []
    has_training = training_required or (root / "imagesTr").is_dir()
    if has_training:
        training, found = _scan(root, "imagesTr", "labelsTr", channels, ending, None, site_of,
                                problems)
        if "numTraining" in meta and found != meta["numTraining"]:
            problems.append(Problem(f"numTraining is {meta['numTraining']} but imagesTr holds "
                                    f"{found} cases; correct numTraining",
                                    file=str(meta_file)))
        records += training
    if (root / "imagesTs").is_dir():
        records += _scan(root, "imagesTs", "labelsTs", channels, ending, "test", site_of,
                         problems)[0]
    elif not has_training:
        problems.append(Problem("neither imagesTr/ nor imagesTs/ is there; put new cases in "
                                "imagesTs/ (<case>_0000<file_ending>) and their labels, if any, "
                                "in labelsTs/ (<case><file_ending>)", file=str(root)))
    ids = [r.case_id for r in records]
    for case_id in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(Problem("case id is in imagesTr and imagesTs; rename one",
                                case_id=case_id, file=str(root)))
    if problems:
        raise DatasetInvalid(problems, source=str(root))
    info = NnunetInfo(name=str(meta.get("name") or root.name), classes=list(labels),
                      labels=labels, file_ending=ending,
                      channels=[str(meta["channel_names"][str(i)]) for i in range(channels)])
    return records, info


def nnunet_file_ending(folder: str | os.PathLike[str]) -> str | None:
    """The ``file_ending`` of the nnU-Net v2 dataset.json in ``folder``, or None when there is
    none or it is not a usable nnU-Net v2 one (another tool's dataset.json, say).

    For reading one images folder of a dataset (``imagesTs/`` pointed at directly) by the
    dataset's own rule rather than by every image suffix there is.
    """
    meta, _ = _load_meta(Path(folder) / "dataset.json", training_required=False)
    return meta["file_ending"] if meta else None


def _load_meta(meta_file: Path, *, training_required: bool) -> tuple[dict | None, list[Problem]]:
    """dataset.json when usable, else None with its problems."""
    where = str(meta_file)
    if not meta_file.is_file():
        return None, [Problem("dataset.json is missing; an nnU-Net v2 raw dataset folder holds "
                              "dataset.json, imagesTr/ and labelsTr/", file=where)]
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [Problem(f"not valid JSON ({exc}); fix the syntax", file=where)]
    if not isinstance(meta, dict):
        return None, [Problem("expected a JSON object with " + ", ".join(_REQUIRED_KEYS),
                              file=where)]
    if "modality" in meta and "channel_names" not in meta:
        return None, [Problem("this is an nnU-Net v1 dataset.json ('modality'); convert it with "
                              "nnUNetv2_convert_old_nnUNet_dataset", file=where)]
    problems = [Problem(f"key {key!r} is missing", file=where) for key in _REQUIRED_KEYS
                if key not in meta and (training_required or key not in _TRAINING_KEYS)]
    if problems:
        return None, problems
    names, labels = meta["channel_names"], meta["labels"]
    if not isinstance(names, dict) or not names or set(names) != {str(i) for i in
                                                                  range(len(names))}:
        problems.append(Problem('channel_names must map "0", "1", ... to channel names, got '
                                f"{names!r}", file=where))
    if not isinstance(labels, dict) or not all(type(v) is int for v in labels.values()):
        problems.append(Problem("labels must map each class name to an integer; region-based "
                                f"labels (lists) are not supported, got {labels!r}", file=where))
    elif sorted(labels.values()) != list(range(len(labels))):
        problems.append(Problem(f"labels values {sorted(labels.values())} must be 0..n-1 with "
                                "0 the background, each once", file=where))
    if "numTraining" in meta and type(meta["numTraining"]) is not int:
        problems.append(Problem(f"numTraining must be an integer, got {meta['numTraining']!r}",
                                file=where))
    ending = meta["file_ending"]
    if not isinstance(ending, str) or not ending.startswith("."):
        problems.append(Problem(f"file_ending must look like '.nii.gz', got {ending!r}",
                                file=where))
    return (None, problems) if problems else (meta, [])


def _scan(root: Path, images_dir: str, labels_dir: str, channels: int, ending: str,
          split: Split | None, site_of: Callable[[str], str] | None,
          problems: list[Problem]) -> tuple[list[CaseRecord], int]:
    """Valid cases of one images folder and how many cases it holds; labels are required for
    training cases only."""
    images, labels = root / images_dir, root / labels_dir
    if not images.is_dir():
        problems.append(Problem(f"{images_dir}/ is missing", file=str(images)))
        return [], 0
    found: dict[str, dict[int, str]] = {}
    for path in sorted(images.iterdir()):
        if path.name.startswith(".") or not path.name.endswith(ending):
            continue
        match = CHANNEL_FILE.match(path.name[: -len(ending)])
        channel = int(match["channel"]) if match else -1
        if not 0 <= channel < channels:
            problems.append(Problem(
                f"file name must be <case>_<channel><ending> with channel 0000..{channels - 1:04d}"
                " (channel_names)", case_id=match["case"] if match else None, file=str(path)))
            continue
        found.setdefault(match["case"], {})[channel] = str(path)
    label_files = {p.name[: -len(ending)]: str(p) for p in sorted(labels.glob(f"*{ending}"))
                   if not p.name.startswith(".")} if labels.is_dir() else {}
    records = []
    for case_id, files in found.items():
        before = len(problems)
        for channel in sorted(set(range(channels)) - set(files)):
            problems.append(Problem(f"channel {channel:04d} is missing; expected "
                                    f"{case_id}_{channel:04d}{ending}", case_id=case_id,
                                    file=str(images)))
        label = label_files.get(case_id)
        if label is None and split is None:
            problems.append(Problem(f"label is missing; expected {labels_dir}/{case_id}{ending}",
                                    case_id=case_id, file=str(labels)))
        site = _site(case_id, site_of, problems)
        if len(problems) == before:
            records.append(CaseRecord(case_id, tuple(files[c] for c in range(channels)),
                                      label=label, site=site, split=split))
    for case_id in sorted(set(label_files) - set(found)):
        problems.append(Problem(f"label has no images in {images_dir}/; remove it or add "
                                f"{case_id}_0000{ending}", case_id=case_id,
                                file=label_files[case_id]))
    return records, len(found)


def _site(case_id: str, site_of: Callable[[str], str] | None, problems: list[Problem]) -> str:
    if site_of is None:
        return "default"
    try:
        site = site_of(case_id)
    except LookupError:
        site = ""
    if not site:
        problems.append(Problem("no site for this case; add it to the sites table",
                                case_id=case_id))
    return str(site)
