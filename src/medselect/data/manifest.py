"""Manifests: a CSV (or JSON) table with one row per case, read into :class:`CaseRecord` s.

Columns (JSON: keys of each object)::

    case_id     required, unique
    image       required; several channels separated by ';' (JSON: a list is fine too)
    site        required; the acquisition centre (one value such as 'default' if only one)
    patient_id  required; splits keep a patient's cases together
    label       optional label map path
    split       optional: train, val or test (empty: medselect assigns it)
    target      optional integer class (classification)
    landmarks   optional JSON path
    anything else becomes an attribute (scanner, age, ...), kept as text

Relative paths resolve against the manifest's folder. Reading checks everything it can without
opening images and reports all problems at once (:class:`~medselect.errors.DatasetInvalid`);
:func:`medselect.data.check.check_dataset` then reads the images.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from medselect.config.choices import did_you_mean
from medselect.data.case import SPLITS, CaseRecord, Split
from medselect.errors import DataError, DatasetInvalid, Problem
from medselect.store.artifacts import atomic_write_text

__all__ = ["MANIFEST_COLUMNS", "load_rows", "read_manifest", "write_manifest"]

MANIFEST_COLUMNS = ("case_id", "image", "label", "site", "patient_id", "split", "target",
                    "landmarks")
_REQUIRED = ("case_id", "image", "site", "patient_id")
_REQUIRED_HELP = {
    "case_id": "a unique name per case",
    "image": "the image path; channels separated by ';'",
    "site": "the acquisition centre; use one value such as 'default' if there is only one",
    "patient_id": "who was scanned, so splits keep a patient's cases together; "
                  "repeat the case_id if each case is a different patient",
}

Row = dict[str, object]


def read_manifest(path: str | os.PathLike[str]) -> list[CaseRecord]:
    """Read a ``.csv``, ``.tsv`` or ``.json`` manifest.

    Raises:
        DatasetInvalid: with every problem found: unreadable file, missing required column,
            empty value, duplicate case id, unknown split, non-integer target, a file that does
            not exist, or no cases at all. Each problem names the row and case.
    """
    file = Path(path)
    rows, problems = load_rows(file)
    records: list[CaseRecord] = []
    if not problems and not rows:
        problems.append(Problem("manifest holds no cases; add one row per case", file=str(file)))
    for column in _REQUIRED:
        if rows and all(column not in row for _, row in rows):
            problems.append(Problem(f"required column {column!r} is missing; add it "
                                    f"({_REQUIRED_HELP[column]})", file=str(file)))
    if problems:
        raise DatasetInvalid(problems, source=str(file))
    folder = file.parent.absolute()
    seen: dict[str, list[str]] = defaultdict(list)
    for where, row in rows:
        record = _record(row, where, folder, str(file), problems)
        if record is not None:
            records.append(record)
        if case_id := _text(row.get("case_id")):
            seen[case_id].append(where)
    for case_id, places in seen.items():
        if len(places) > 1:
            problems.append(Problem(f"case id appears {len(places)} times ({', '.join(places)}); "
                                    "case ids must be unique", case_id=case_id, file=str(file)))
    if problems:
        raise DatasetInvalid(problems, source=str(file), valid=records)
    return records


def write_manifest(records: Iterable[CaseRecord], path: str | os.PathLike[str]) -> Path:
    """Write ``records`` as a CSV manifest that :func:`read_manifest` reads back.

    Paths under the manifest's folder are written relative to it, so the folder can be moved.

    Raises:
        DataError: a path containing ';' or an attribute named like a manifest column.
    """
    file = Path(path)
    folder = file.parent.absolute()
    records = list(records)
    extra = sorted({key for record in records for key in record.attributes})
    clash = set(extra) & set(MANIFEST_COLUMNS)
    if clash:
        raise DataError(f"{file}: attributes {sorted(clash)} have the names of manifest "
                        "columns; rename them")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS + tuple(extra))
    for r in records:
        if any(";" in p for p in r.images):
            raise DataError(f"case {r.case_id!r}: image path contains ';', which separates "
                            "channels in a manifest; rename the file")
        writer.writerow([r.case_id, ";".join(_relative(p, folder) for p in r.images),
                         _relative(r.label, folder), r.site, r.patient_id, r.split or "",
                         "" if r.target is None else r.target, _relative(r.landmarks, folder),
                         *(r.attributes.get(key, "") for key in extra)])
    return atomic_write_text(file, buffer.getvalue())


def load_rows(file: Path) -> tuple[list[tuple[str, Row]], list[Problem]]:
    """``(where, row)`` pairs ("row 3" in a CSV's lines, "entry 2" in JSON), or problems."""
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".tsv", ".json"):
        return [], [Problem(f"unknown manifest format {suffix!r}; use .csv, .tsv or .json",
                            file=str(file))]
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [], [Problem("manifest does not exist; check the path", file=str(file))]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(f"cannot read the manifest ({exc}); save it as UTF-8 text",
                            file=str(file))]
    if suffix == ".json":
        return _json_rows(text, file)
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
    reader.fieldnames = [name.strip() for name in reader.fieldnames or ()]
    rows: list[tuple[str, Row]] = []
    problems: list[Problem] = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            problems.append(Problem(f"row {number} has more fields than the header (an "
                                    "unquoted comma?); quote the value", file=str(file)))
        elif any(v and v.strip() for v in row.values()):  # skip lines of empty cells
            rows.append((f"row {number}", row))
    return rows, problems


def _json_rows(text: str, file: Path) -> tuple[list[tuple[str, Row]], list[Problem]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(f"not valid JSON ({exc.msg} at line {exc.lineno} column "
                            f"{exc.colno}); fix the syntax", file=str(file))]
    entries = data.get("cases") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        return [], [Problem('expected a list of cases or {"cases": [...]}', file=str(file))]
    rows, problems = [], []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, dict):
            rows.append((f"entry {number}", {str(k).strip(): v for k, v in entry.items()}))
        else:
            problems.append(Problem(f"entry {number} is not an object with case_id, image, ...",
                                    file=str(file)))
    return rows, problems


def _record(row: Row, where: str, folder: Path, manifest: str,
            problems: list[Problem]) -> CaseRecord | None:
    """The row as a record, or None after adding its problems to ``problems``."""
    text = {key: _text(value) for key, value in row.items() if key not in ("image", "target")}
    case_id = text.get("case_id", "")
    before = len(problems)

    def problem(message: str, file: str = manifest) -> None:
        problems.append(Problem(f"{where}: {message}", case_id=case_id or None, file=file))

    images = _channels(row.get("image"))
    for column in _REQUIRED:
        if not (images if column == "image" else text.get(column)):
            problem(f"{column!r} is empty; give {_REQUIRED_HELP[column]}")
    split = text.get("split", "").lower() or None
    if split is not None and split not in SPLITS:
        problem(f"unknown split {text['split']!r}; {did_you_mean(split, SPLITS)}use train, "
                "val, test or leave it empty")
    try:
        target = _integer(row.get("target"))
    except (TypeError, ValueError):
        target = None
        problem(f"target {row.get('target')!r} is not an integer class index")
    channels = tuple(_resolve(folder, p) for p in images)
    label, landmarks = (_resolve(folder, text[c]) if text.get(c) else None
                        for c in ("label", "landmarks"))
    named = [("image", p) for p in channels] + [("label", label), ("landmarks", landmarks)]
    for column, file in named:
        if file and not os.path.exists(file):
            problem(f"{column} file does not exist; check the path (relative paths resolve "
                    f"against {folder})", file=file)
    if len(problems) > before:
        return None
    attributes = {k: v for k, v in text.items() if k not in MANIFEST_COLUMNS and v}
    return CaseRecord(case_id=case_id, images=channels, label=label, site=text["site"],
                      patient_id=text["patient_id"], split=cast(Split | None, split), target=target,
                      landmarks=landmarks, attributes=attributes)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else json.dumps(value)


def _channels(value: object) -> list[str]:
    parts = value if isinstance(value, list) else str(value or "").split(";")
    return [str(p).strip() for p in parts if str(p).strip()]


def _integer(value: object) -> int | None:
    """The value as an int, None when empty; ValueError when it is not a whole number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)  # "2", "2.0" (pandas writes ints so when a column has gaps), 2
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def _resolve(folder: Path, value: str) -> str:
    path = Path(value).expanduser()
    return os.path.normpath(path if path.is_absolute() else folder / path)


def _relative(value: str | None, folder: Path) -> str:
    if not value:
        return ""
    path = Path(value).absolute()
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path)
