"""Who each case belongs to when the source does not say: patients, sites and attributes.

nnU-Net folders, MSD folders and plain folders of images name cases but not patients or sites,
so each case would count as its own patient at site ``default``. For slices or visits of one
patient that is wrong twice over: a patient's slices can land in training and test, and every
statistic counts them as independent evidence. :class:`CaseInfo` supplies the missing facts,
from three places (the first that has a value wins):

1. a table (``--case-info FILE.csv``: ``case_id``, ``patient_id``, ``site``, any attribute);
2. a regular expression on the case id (``--patients``) with a named group ``patient`` and
   optionally ``site``, e.g. ``(?P<patient>.+)_z\\d+``;
3. what the source said, and ``site`` for cases at site ``default``.

:func:`slice_like_ids` notices ids that look like slices or visits of fewer patients
(``p1_z012``, ``p1_slice3``, ``p7_v2``) when no mapping was given, so an import can warn.

Example::

    >>> info = CaseInfo.of(patients=r"(?P<patient>.+)_z\\d+", site="lyon")
    >>> records = info.apply(records)
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from medselect.config.fields import patient_pattern
from medselect.data.case import CaseRecord
from medselect.data.manifest import load_rows
from medselect.errors import DataError, DatasetInvalid, Problem

__all__ = ["CaseInfo", "SliceHint", "slice_like_ids"]

DEFAULT_SITE = "default"
_TABLE_FIELDS = ("patient_id", "site")


@dataclass(frozen=True)
class CaseInfo:
    """Patients, sites and attributes to give cases whose source lacks them.

    Args:
        patients: a compiled pattern with a named group ``patient`` (and optionally ``site``),
            matched against the whole case id.
        table: case id -> column -> value, read from a case-info file.
        table_file: where ``table`` came from, for messages.
        site: the site of cases that still have none (site ``default``).
    """

    patients: re.Pattern[str] | None = None
    table: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    table_file: str | None = None
    site: str | None = None

    @classmethod
    def of(cls, *, patients: str | None = None,
           case_info: str | os.PathLike[str] | None = None,
           site: str | None = None) -> CaseInfo:
        """Build from command-line values.

        Raises:
            DataError: the pattern does not compile or lacks a ``patient`` group, or the table
                is unreadable, lacks ``case_id`` or repeats a case (every problem listed).
        """
        pattern = _pattern(patients) if patients else None
        table = _read_table(Path(case_info)) if case_info else {}
        return cls(pattern, table, str(case_info) if case_info else None, site or None)

    @property
    def maps_patients(self) -> bool:
        """Whether patients come from the pattern or the table rather than the source."""
        return self.patients is not None or any("patient_id" in row
                                                for row in self.table.values())

    def apply(self, records: Sequence[CaseRecord]) -> list[CaseRecord]:
        """``records`` with patient, site and attributes filled in.

        Raises:
            DatasetInvalid: with every case the pattern does not match, every case the table
                has no row for, and every table row naming a case that is not in ``records``.
        """
        problems: list[Problem] = []
        out = [self._one(r, problems) for r in records]
        known = {r.case_id for r in records}
        problems += [Problem(f"case-info row names case {case_id!r}, which is not in the "
                             "source; fix the case id or remove the row", case_id=case_id,
                             file=self.table_file)
                     for case_id in self.table if case_id not in known]
        if problems:
            raise DatasetInvalid(problems, source=self.table_file or "case mapping")
        return out

    def _one(self, record: CaseRecord, problems: list[Problem]) -> CaseRecord:
        found: dict[str, str] = {}
        if self.patients is not None:
            match = self.patients.fullmatch(record.case_id)
            if match is None:
                problems.append(Problem(
                    f"case id does not match the patients pattern {self.patients.pattern!r}; "
                    "fix the pattern so it matches every case id", case_id=record.case_id))
            else:
                found = {"patient_id": match["patient"],
                         **({"site": match["site"]} if "site" in match.groupdict() else {})}
        if self.table:
            row = self.table.get(record.case_id)
            if row is None:
                problems.append(Problem("case has no row in the case-info table; add one",
                                        case_id=record.case_id, file=self.table_file))
            else:
                found |= {k: v for k, v in row.items() if v}
        site = found.get("site") or (record.site if record.site != DEFAULT_SITE else
                                     self.site or DEFAULT_SITE)
        attributes = {**record.attributes,
                      **{k: v for k, v in found.items() if k not in _TABLE_FIELDS}}
        return replace(record, patient_id=found.get("patient_id") or record.patient_id,
                       site=site, attributes=attributes)


def _pattern(text: str) -> re.Pattern[str]:
    try:
        return patient_pattern(text)
    except ValueError as exc:
        raise DataError(str(exc), param="patients") from None


def _read_table(file: Path) -> dict[str, dict[str, str]]:
    """case id -> {column: value} of a CSV/TSV/JSON case-info table."""
    rows, problems = load_rows(file)
    if rows and all("case_id" not in row for _, row in rows):
        problems.append(Problem("required column 'case_id' is missing; the case-info table "
                                "has case_id and any of patient_id, site, attributes",
                                file=str(file)))
    table: dict[str, dict[str, str]] = {}
    places: dict[str, list[str]] = defaultdict(list)
    for where, row in rows:
        values = {str(k).strip(): str(v).strip() for k, v in row.items() if v is not None}
        case_id = values.pop("case_id", "")
        if not case_id:
            problems.append(Problem(f"{where}: 'case_id' is empty", file=str(file)))
            continue
        places[case_id].append(where)
        table[case_id] = values
    problems += [Problem(f"case id appears {len(p)} times ({', '.join(p)}); give one row per "
                         "case", case_id=c, file=str(file))
                 for c, p in places.items() if len(p) > 1]
    if problems:
        raise DatasetInvalid(problems, source=str(file))
    return table


_MARKED = re.compile(r"(?P<patient>.+?)[_\-.](?P<marker>z|slice|sl|slc|visit|v|tp|t|time|"
                     r"frame|ses|session|scan)[_\-]?\d+", re.IGNORECASE)
_NUMBERED = re.compile(r"(?P<patient>.+[_\-]\d+)(?P<marker>[_\-])\d+")


@dataclass(frozen=True)
class SliceHint:
    """Case ids that look like several slices or visits per patient.

    Args:
        n_cases: cases whose ids look so.
        n_patients: the patients those ids would group into.
        example: a few ``case id -> patient`` pairs of one group.
        pattern: a ``patients`` pattern that would group them.
    """

    n_cases: int
    n_patients: int
    example: tuple[tuple[str, str], ...]
    pattern: str

    @property
    def message(self) -> str:
        shown = ", ".join(f"{c} -> {p}" for c, p in self.example)
        return (f"{self.n_cases} case ids look like slices or visits of {self.n_patients} "
                f"patients ({shown}), but each case counts as its own patient: one patient's "
                "cases can land in training and test, and the statistics count them as "
                "independent; give the mapping with `patients=` "
                f"'{self.pattern}' or `case_info=` FILE.csv (case_id,patient_id,site)")


def slice_like_ids(records: Sequence[CaseRecord]) -> SliceHint | None:
    """A hint when case ids group into fewer patients by a slice/visit suffix and every case
    is still its own patient; None otherwise."""
    if any(r.patient_id != r.case_id for r in records):
        return None
    for rule in (_MARKED, _NUMBERED):
        groups: dict[str, list[str]] = defaultdict(list)
        markers = set()
        for record in records:
            match = rule.fullmatch(record.case_id)
            if match:
                groups[match["patient"]].append(record.case_id)
                markers.add(match["marker"])
        shared = {p: ids for p, ids in groups.items() if len(ids) > 1}
        if shared:
            patient, ids = next(iter(sorted(shared.items())))
            marker = "|".join(sorted(markers, key=str.lower))
            return SliceHint(
                n_cases=sum(map(len, groups.values())), n_patients=len(groups),
                example=tuple((i, patient) for i in ids[:2]),
                pattern=_suggest(rule, marker, ids[0]))
    return None


def _suggest(rule: re.Pattern[str], markers: str, case_id: str) -> str:
    """A ``--patients`` pattern for the ids ``rule`` grouped (``markers``: ``z`` or
    ``slice|z``)."""
    if rule is _NUMBERED:
        return r"(?P<patient>.+[_-]\d+)[_-]\d+"
    match = rule.fullmatch(case_id)
    sep = case_id[len(match["patient"]):match.start("marker")]
    marker = f"(?:{markers})" if "|" in markers else markers
    return f"(?P<patient>.+){re.escape(sep)}{marker}" + r"[_-]?\d+"
