"""What an import or a check warns about without refusing.

A dataset can be valid and still mislead: a site with one test patient, a test set of four
patients, slices of one patient counted as separate patients. These are not errors (a pilot
study may be exactly that), so they are reported beside the result, by ``data check`` and by
``data import`` alike, each with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DataWarning", "WarningKind"]

WarningKind = Literal[
    "no_training_patients",  # a site has held-out patients but none in training
    "few_test_patients",  # a site has fewer test patients than per-site figures need
    "not_tested",  # a site has training patients only: no figures of its own
    "few_test_patients_overall",  # the whole test set is too small for a confident choice
    "slice_like_ids",  # case ids look like slices or visits of fewer patients
    "held_out_site_trained",  # a site the parent version held out now has training patients
]


@dataclass(frozen=True)
class DataWarning:
    """One warning about a dataset.

    Args:
        problem: what kind of warning (:data:`WarningKind`).
        message: one line naming the site or cases, the counts, and what to do.
        site: the site it is about; None when it is about the whole dataset.
    """

    problem: WarningKind
    message: str
    site: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "problem": self.problem, "message": self.message}
