"""Which stored cases a run learns from and is validated on, cross-validated or not.

Cross-validation folds only train + val: the test split (and the frozen reference set drawn
from it) stays untouched, to confirm the chosen model. The folds are those of
:func:`medselect.data.splits.assign_folds` over a dataset version's train + val cases
(patient-level, site-stratified, drawn with the run's ``cv.seed``), so every layer that asks
(the training worker, the evaluation of held-out folds) gets the same answer.

Example::

    cases = get_cases(conn, version_id)
    parts = run_cases(cases, config.cv)          # {"train": [...], "val": [...]}
    fold_of = case_folds(cases, folds=5, seed=0)  # case id -> 1..5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from medselect.config.run import CrossValidation
from medselect.data.case import CaseRecord
from medselect.data.splits import assign_folds
from medselect.errors import DataError

CV_SPLITS = ("train", "val")
"""The splits cross-validation folds: everything but test."""

CaseRow = Mapping[str, Any]


def case_folds(cases: Sequence[CaseRow], folds: int, seed: int = 0) -> dict[str, int]:
    """Case id -> fold (1..``folds``) of the train + val cases among ``case`` rows.

    Raises:
        DataError: a fold would have no patient (names K and the counts).
    """
    records = [CaseRecord(case_id=c["case_id"], images=(), patient_id=c["patient_id"],
                          site=c["site"]) for c in cases if c["split"] in CV_SPLITS]
    try:
        return assign_folds(records, folds, stratify_by="site", seed=seed)
    except DataError as exc:
        raise DataError(f"ranking.selection.folds: {exc}") from None


def run_cases(cases: Sequence[CaseRow], cv: CrossValidation | None) -> dict[str, list[CaseRow]]:
    """``{"train": [...], "val": [...]}``: the cases a run trains and validates on.

    Without ``cv`` the train and val splits; for fold k the other folds and fold k; for a
    refit all of train + val and no validation case; an ensemble trains on nothing.

    Raises:
        DataError: the folds cannot be made (see :func:`case_folds`).
    """
    if cv is None:
        return {split: [c for c in cases if c["split"] == split] for split in CV_SPLITS}
    if cv.final == "ensemble":
        return {"train": [], "val": []}
    pooled = [c for c in cases if c["split"] in CV_SPLITS]
    if cv.final == "refit":
        return {"train": pooled, "val": []}
    fold_of = case_folds(cases, cv.folds, cv.seed)
    return {"train": [c for c in pooled if fold_of[c["case_id"]] != cv.fold],
            "val": [c for c in pooled if fold_of[c["case_id"]] == cv.fold]}
