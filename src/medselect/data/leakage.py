"""Checks that no patient and no image is on both sides of a train/test split.

Two kinds of leak are found: a patient id with cases on both sides, and the same image content
(equal image digests, see :func:`~medselect.data.versions.image_digest`) on both sides even under
different case and patient ids, e.g. a scan exported twice. Content is compared byte for byte,
so the same pixels saved in two file formats are not recognised.

Example::

    >>> require_no_split_leakage(assign_splits(records))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from medselect.data.case import CaseRecord
from medselect.data.versions import image_digests
from medselect.errors import LeakageError, Problem

_HELD_OUT = "test"
_LISTED = 5  # problems spelled out in a LeakageError message
_OVERLAP = "training and test data overlap"


def check_leakage(
    train_records: Sequence[CaseRecord],
    test_records: Sequence[CaseRecord],
    digests: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every leak between the training side and the test side, patients first.

    Args:
        train_records: cases a model learns from (train and val).
        test_records: cases it is judged on.
        digests: ``case_id -> image digest``; computed from the files when None, and for any
            case missing from it.

    Raises:
        DataError: an image file has to be hashed and cannot be read.
    """
    digests = _complete(digests or {}, [*train_records, *test_records])
    problems = []
    train_by_patient = _group(train_records, lambda r: r.patient_id)
    test_by_patient = _group(test_records, lambda r: r.patient_id)
    for patient in sorted(train_by_patient.keys() & test_by_patient.keys()):
        problems.append(Problem(
            f"patient {patient!r} is in training (cases {_ids(train_by_patient[patient])}) and "
            f"in test (cases {_ids(test_by_patient[patient])}); keep each patient in one split",
            case_id=test_by_patient[patient][0].case_id,
        ))
    train_by_digest = _group(train_records, lambda r: digests[r.case_id])
    for case in sorted(test_records, key=lambda r: r.case_id):
        for twin in train_by_digest.get(digests[case.case_id], []):
            problems.append(Problem(  # str() adds the test case and its file
                f"test image is identical to training case {twin.case_id!r} "
                f"({', '.join(twin.images)}), sha256 {digests[case.case_id][:12]}…; remove "
                f"the duplicate from one side",
                case_id=case.case_id, file=", ".join(case.images),
            ))
    return problems


def require_no_leakage(
    train_records: Sequence[CaseRecord],
    test_records: Sequence[CaseRecord],
    digests: Mapping[str, str] | None = None,
    *,
    message: str = _OVERLAP,
) -> None:
    """Raise :class:`LeakageError` naming every leak :func:`check_leakage` finds.

    Args:
        message: what the leaks mean for the caller and what to do, put before the list.
    """
    _raise_if_any(check_leakage(train_records, test_records, digests), message)


def check_split_leakage(records: Sequence[CaseRecord],
                        digests: Mapping[str, str] | None = None) -> list[Problem]:
    """Leaks between train + val and test within one list of split records.

    Records without a split are on neither side.
    """
    test = [r for r in records if r.split == _HELD_OUT]
    seen = [r for r in records if r.split is not None and r.split != _HELD_OUT]
    return check_leakage(seen, test, digests)


def require_no_split_leakage(records: Sequence[CaseRecord],
                             digests: Mapping[str, str] | None = None) -> None:
    """Raise :class:`LeakageError` if :func:`check_split_leakage` finds any leak."""
    _raise_if_any(check_split_leakage(records, digests))


def _raise_if_any(problems: list[Problem], message: str = _OVERLAP) -> None:
    if not problems:
        return
    listed = "; ".join(str(p) for p in problems[:_LISTED])
    more = f" (and {len(problems) - _LISTED} more)" if len(problems) > _LISTED else ""
    raise LeakageError(f"{message}: {listed}{more}")


def _complete(digests: Mapping[str, str], records: Iterable[CaseRecord]) -> dict[str, str]:
    missing = [r for r in records if r.case_id not in digests]
    return {**digests, **image_digests(missing)}


def _group(records: Iterable[CaseRecord],
           key: Callable[[CaseRecord], str]) -> dict[str, list[CaseRecord]]:
    groups: dict[str, list[CaseRecord]] = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return groups


def _ids(records: Iterable[CaseRecord]) -> str:
    return ", ".join(sorted(r.case_id for r in records))
