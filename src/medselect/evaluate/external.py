"""Predictions made elsewhere (nnU-Net's output folder, another tool) as a model to evaluate.

The folder holds one label map per case, named ``<case_id><suffix>`` with any suffix
``medselect.data.readers`` reads (``.nii.gz``, ``.png``, ...); other files (nnU-Net's
``plans.json``, ``dataset.json``) are ignored. A label map must have its case's spatial shape;
its own spacing is not used (a PNG made elsewhere often has none): metrics take the case's.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from medselect.data.loading import LoadedCase
from medselect.data.readers import IMAGE_SUFFIXES, image_suffix, read_image
from medselect.data.versions import file_digest
from medselect.errors import ConfigError, DataError, ImageReadError
from medselect.evaluate.predictors import CaseFailure, Prediction
from medselect.store.evaluations import EXTERNAL_PREFIX

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_external_name(name: str) -> str:
    """``name`` if it can name an external model (letters, digits, ``.``, ``_``, ``-``).

    Raises:
        ConfigError: the name is empty or holds other characters.
    """
    if not _NAME.match(name or ""):
        raise ConfigError(f"{name!r} cannot name an external model; use letters, digits, '.', "
                          "'_' and '-' (e.g. nnunet-3d-fullres)", param="name")
    return name


class ExternalPredictions:
    """A folder of prediction masks, one per case, evaluated as model ``external:<name>``.

    Its fingerprint is a digest of every prediction file, so new predictions under the same
    name are a new evaluation rather than a reused one.

    Raises:
        ConfigError: the name is not usable (see :func:`check_external_name`).
        DataError: the folder does not exist, holds no prediction file, or two files for one
            case.
    """

    def __init__(self, folder: str | os.PathLike[str], name: str) -> None:
        self.folder = Path(folder)
        self.name = check_external_name(name)
        self.model_ref = f"{EXTERNAL_PREFIX}{name}"
        self.files = _prediction_files(self.folder)
        digest = hashlib.sha256()
        for case_id, path in sorted(self.files.items()):
            digest.update(f"{case_id}\0{file_digest(path)}\n".encode())
        self.fingerprint = digest.hexdigest()

    def load(self) -> None:
        """Nothing to load: files are read per case."""

    def predict(self, cases: Sequence[LoadedCase], shared: dict) -> list[Prediction]:
        return [self._read(case) for case in cases]

    def close(self) -> None:
        """Nothing is held."""

    def _read(self, case: LoadedCase) -> Prediction:
        path = self.files.get(case.case_id)
        if path is None:
            return CaseFailure("missing", (
                f"case {case.case_id!r}: no prediction in {self.folder} (expected "
                f"{case.case_id}.nii.gz, {case.case_id}.png or another image file named by "
                f"the case id)"))
        try:
            labels = read_image(path, kind="label").array
        except ImageReadError as exc:
            return CaseFailure("error", f"case {case.case_id!r}: {exc}")
        expected = tuple(case.image.shape[1:])
        if labels.shape != expected:
            return CaseFailure("error", (
                f"case {case.case_id!r}: prediction {path.name} has shape {labels.shape} but "
                f"the case's image has shape {expected}; predict on the case's own grid"))
        return labels


def _prediction_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give the folder holding one prediction "
                        "mask per case (<case_id>.nii.gz or .png)", param="predictions")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        suffix = image_suffix(path)
        if not path.is_file() or suffix not in IMAGE_SUFFIXES:
            continue
        case_id = path.name[: len(path.name) - len(suffix)]
        if case_id in files:
            raise DataError(f"{folder}: two predictions for case {case_id!r} "
                            f"({files[case_id].name}, {path.name}); keep one")
        files[case_id] = path
    if not files:
        raise DataError(f"{folder}: no prediction files ({', '.join(IMAGE_SUFFIXES)}); give "
                        f"the folder holding one mask per case, named by case id")
    return files
