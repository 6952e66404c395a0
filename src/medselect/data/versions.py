"""Content hashes of files, cases, case sets and dataset versions.

A dataset version id is a hash of what the data *is* (file bytes, ids, sites, patients,
splits), not of where it lies or in which order it was listed: moving or re-listing a dataset
keeps its id, changing one byte of one file changes it. Run ids derive from it, so a re-run on
the same data is recognised.

Example::

    >>> dataset_version_id(records)
    'dv-3f2a9c0b41de'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from medselect.data.case import CaseRecord
from medselect.errors import DataError

_SCHEME = "medselect-dataset-v1"  # bump when what the ids cover changes
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes; for a folder (a DICOM series), of its files.

    A folder's digest covers each file's path relative to the folder (sorted, ``/``-separated)
    and bytes, so renaming or changing any slice changes it and the folder's location does not.

    Raises:
        DataError: the path does not exist or cannot be read.
    """
    path = Path(path)
    try:
        if path.is_dir():
            digest = hashlib.sha256()
            for file in sorted((f for f in path.rglob("*") if f.is_file()),
                               key=lambda f: f.relative_to(path).as_posix()):
                name = file.relative_to(path).as_posix()
                digest.update(f"{name}\0{_bytes_digest(file)}\n".encode())
            return digest.hexdigest()
        return _bytes_digest(path)
    except OSError as err:
        raise DataError(f"{path}: cannot hash this file ({err.strerror or err}); "
                        f"check that it exists and is readable") from err


def _bytes_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def image_digest(record: CaseRecord) -> str:
    """Digest of a case's image content: the file's digest, or a digest of all its channels'."""
    digests = [file_digest(p) for p in record.images]
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def image_digests(records: Iterable[CaseRecord]) -> dict[str, str]:
    """``case_id -> image_digest`` for every record (the input of the leakage checks)."""
    return {r.case_id: image_digest(r) for r in records}


def case_digest(record: CaseRecord) -> str:
    """SHA-256 over a case's file contents (by role) and metadata, excluding its split.

    Paths are left out, so a moved dataset keeps its digests.

    Raises:
        DataError: a file of the case cannot be read (the message names the file).
    """
    content = {
        "case_id": record.case_id,
        "images": [file_digest(p) for p in record.images],
        "label": file_digest(record.label) if record.label else None,
        "landmarks": file_digest(record.landmarks) if record.landmarks else None,
        "site": record.site,
        "patient_id": record.patient_id,
        "target": record.target,
        "attributes": record.attributes,
    }
    return _hash_json(content)


def dataset_version_id(records: Sequence[CaseRecord],
                       case_digests: Mapping[str, str] | None = None, *, task: str = "") -> str:
    """``dv-`` + 12 hex digits over the sorted cases: ids, case digests, sites, patients, splits.

    Args:
        records: the dataset; their order does not matter.
        case_digests: ``case_id -> case_digest`` already computed (e.g. from the store), so
            files are not hashed again; cases missing from it are hashed.
        task: the task the version belongs to; the same files under two tasks are two
            versions, so one task's runs never point at another's data.

    Raises:
        DataError: two records share a case id, or a file cannot be read.
    """
    duplicates = sorted(i for i, n in Counter(r.case_id for r in records).items() if n > 1)
    if duplicates:
        raise DataError(f"case ids {duplicates} appear more than once; case ids must be unique")
    known = case_digests or {}
    entries = sorted(
        [r.case_id, known.get(r.case_id) or case_digest(r), r.site, r.patient_id, r.split]
        for r in records
    )
    return "dv-" + _hash_json([_SCHEME, task, entries])[:12]


def case_set_hash(case_ids_and_digests: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``cs-`` + 12 hex digits naming a set of cases (e.g. an evaluation's), order-independent.

    Raises:
        DataError: one case id is given with two different digests.
    """
    pairs = (case_ids_and_digests.items() if isinstance(case_ids_and_digests, Mapping)
             else case_ids_and_digests)
    unique: dict[str, str] = {}
    for case_id, digest in pairs:
        if unique.setdefault(case_id, digest) != digest:
            raise DataError(f"case {case_id!r} is listed with two different digests "
                            f"({unique[case_id][:12]}…, {digest[:12]}…); list each case once")
    return "cs-" + _hash_json(sorted(unique.items()))[:12]


def _hash_json(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
