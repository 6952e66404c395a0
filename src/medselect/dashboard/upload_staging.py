"""New cases sent through the dashboard: checked by content, then stored under the workspace.

An upload is refused (413: too large; 415: not an accepted type by its content; 400: anything
else) before anything is kept: the files are written to a hidden temporary folder inside the
workspace, every check runs there (sizes, magic bytes, DICOM zips member by member, labels
matched to images, then the images read as a dataset of the task), and only then is the folder
renamed to ``uploads/<upload_id>/``. Files are only ever read as images: nothing is unpickled
or executed, and a zip's member paths are never used as paths.

Against decompression bombs, what a request unpacks (its gzip streams, decompressed once to
check them, and its DICOM zips, extracted) is counted as it streams, against one budget per
request, whatever sizes the archives declare; and every image and label is read with a limit
on the voxels its header declares, checked before its pixels are allocated.

Accepted (by content, not by name):

- NIfTI ``.nii`` (``n+1`` or ``ni1`` at byte 344) and ``.nii.gz`` (gzip holding the same);
- NRRD ``.nrrd`` with attached data (``NRRD000x``; a ``data file`` field is refused, as it
  would make the reader open another file of the server);
- PNG (its 8-byte signature);
- a DICOM series as ``.zip`` (images only): every member a DICOM file (``DICM`` at byte 128),
  no absolute path and no ``..``.

Labels are matched to images by file name stem: ``case1.nii.gz`` takes ``case1_label.nii.gz``
(or a label file named ``case1`` with any accepted suffix).
"""

from __future__ import annotations

import gzip
import re
import secrets
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fastapi import HTTPException

from medselect.config import TaskSpec
from medselect.data.case import CaseRecord
from medselect.data.check import check_dataset
from medselect.data.manifest import write_manifest

UPLOADS_DIR = "uploads"
LABEL_SUFFIX = "_label"
IMAGE_TYPES = (".nii.gz", ".nii", ".nrrd", ".png", ".zip")
LABEL_TYPES = (".nii.gz", ".nii", ".nrrd", ".png")
MAX_ZIP_MEMBERS = 4096
CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
UPLOAD_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
_UPLOAD_TIME = "%Y%m%d-%H%M%S"
_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Incoming:
    """One file of the request: the name the client gave and its (spooled) content."""

    filename: str
    file: BinaryIO


@dataclass(frozen=True)
class Limits:
    """How much one upload may hold: bytes sent per file and per request, files, bytes
    unpacked per request, and voxels per image."""

    file_bytes: int
    request_bytes: int
    files: int
    unpacked_bytes: int
    voxels: int


@dataclass
class _Spent:
    """What one request has used so far: bytes sent, and bytes its archives unpacked to."""

    sent: int = 0
    unpacked: int = 0


@dataclass(frozen=True)
class StoredUpload:
    """An accepted upload: its folder (workspace-relative) and its manifest of cases."""

    upload_id: str
    folder: Path
    manifest: Path
    case_ids: list[str]
    labelled: bool


def new_upload_id() -> str:
    """``YYYYMMDD-HHMMSS-xxxxxx`` (UTC): sortable by time, random enough to not collide."""
    return f"{datetime.now(UTC).strftime(_UPLOAD_TIME)}-{secrets.token_hex(3)}"


def upload_time(upload_id: str) -> datetime:
    """When the upload ``upload_id`` was made (UTC), read from its id."""
    return datetime.strptime(upload_id[:15], _UPLOAD_TIME).replace(tzinfo=UTC)


def check_upload_id(upload_id: str) -> str:
    """Raises: HTTPException: 404 for anything that is not an upload id (no path tricks)."""
    if not UPLOAD_ID.fullmatch(upload_id):
        raise HTTPException(404, f"no upload {upload_id!r}")
    return upload_id


def upload_folder(root: Path, upload_id: str) -> Path:
    return root / UPLOADS_DIR / check_upload_id(upload_id)


def manifest_name(upload_id: str) -> str:
    """The file name of an upload's manifest; its stem names the case set it becomes."""
    return f"{upload_id}.csv"


def safe_name(filename: str) -> str:
    """The file name without any folder part, leading dots or unusual characters.

    Raises:
        HTTPException: 400 when nothing usable is left.
    """
    base = re.split(r"[/\\]", filename or "")[-1].lstrip(". ")
    safe = _UNSAFE.sub("_", base)
    if not safe.strip("_"):
        raise HTTPException(400, f"file {filename!r}: the name is empty once folder parts and "
                                 "unusual characters are removed; rename it (e.g. case1.png)")
    return safe


def file_type(name: str, accepted: Sequence[str], role: str) -> str:
    """The suffix of ``name`` among ``accepted``. Raises: HTTPException: 415 otherwise."""
    lower = name.lower()
    for suffix in accepted:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    raise HTTPException(415, f"{role} file {name!r}: not an accepted type; give "
                             f"{', '.join(accepted)}")


def stage_upload(
    root: Path,
    images: Sequence[Incoming],
    labels: Sequence[Incoming],
    *,
    site: str,
    limits: Limits,
    task: TaskSpec,
    upload_id: str,
) -> StoredUpload:
    """Check every file and store the upload as ``uploads/<upload_id>/`` of ``root``.

    Raises:
        HTTPException: 413 (too large, or unpacking to too much), 415 (wrong type by content)
            or 400 (no image, too many files, a bad zip, an unmatched label, a header declaring
            more voxels than the limit, cases the task cannot use); the message names the file.
            Nothing is left in the workspace then.
    """
    if not images:
        raise HTTPException(400, "no image file was sent; choose one or more images")
    if len(images) + len(labels) > limits.files:
        raise HTTPException(400, f"{len(images) + len(labels)} files were sent, at most "
                                 f"{limits.files} are accepted at once; send them in parts")
    staging = Path(tempfile.mkdtemp(prefix=f".upload-{upload_id}-", dir=root))
    try:
        spent = _Spent()
        cases = dict(_stage_image(f, staging, limits, spent) for f in images)
        if len(cases) != len(images):
            raise HTTPException(400, "two images have the same name stem; each image must "
                                     "have its own name (it becomes the case id)")
        by_stem = {}
        for incoming in labels:
            stem, name = _stage_label(incoming, staging, limits, spent)
            case = stem if stem in cases else stem.removesuffix(LABEL_SUFFIX)
            if case not in cases or case in by_stem:
                raise HTTPException(400, f"label file {incoming.filename!r}: no image "
                                         f"{'takes it' if case not in cases else 'is left'}; "
                                         f"name it <image stem>{LABEL_SUFFIX} (images: "
                                         f"{', '.join(sorted(cases))})")
            by_stem[case] = name
        records = [CaseRecord(case_id=case, images=(str(staging / cases[case]),),
                              label=str(staging / "labels" / by_stem[case])
                              if case in by_stem else None,
                              site=site, patient_id=f"upload-{upload_id}-{case}")
                   for case in sorted(cases)]
        problems = check_dataset(records, list(task.classes) or None,
                                 spatial_dims=task.spatial_dims, max_voxels=limits.voxels)
        if problems:
            shown = "; ".join(str(p).replace(str(staging) + "/", "") for p in problems[:5])
            raise HTTPException(400, f"the files cannot be used by task {task.name!r}: {shown}")
        manifest = write_manifest(records, staging / manifest_name(upload_id))
        final = root / UPLOADS_DIR / upload_id
        final.parent.mkdir(exist_ok=True)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StoredUpload(upload_id, final.relative_to(root), final / manifest.name,
                        sorted(cases), bool(by_stem))


def _stage_image(incoming: Incoming, staging: Path, limits: Limits,
                 spent: _Spent) -> tuple[str, str]:
    """Store one image (a zip as its folder of DICOM files); return (case id, relative path)."""
    name = safe_name(incoming.filename)
    suffix = file_type(name, IMAGE_TYPES, "image")
    folder = staging / "images"
    folder.mkdir(exist_ok=True)
    stem = name[: -len(suffix)]
    if suffix != ".zip":
        _copy_checked(incoming, folder / name, suffix, limits, spent)
        return stem, f"images/{name}"
    if (folder / stem).exists():
        raise HTTPException(400, f"image file {incoming.filename!r} was sent twice")
    archive = staging / "zips" / name
    archive.parent.mkdir(exist_ok=True)
    _copy_limited(incoming, archive, limits, spent)
    _extract_dicom_zip(incoming.filename, archive, folder / stem, limits, spent)
    archive.unlink()
    return stem, f"images/{stem}"


def _stage_label(incoming: Incoming, staging: Path, limits: Limits,
                 spent: _Spent) -> tuple[str, str]:
    name = safe_name(incoming.filename)
    suffix = file_type(name, LABEL_TYPES, "label")
    folder = staging / "labels"
    folder.mkdir(exist_ok=True)
    if (folder / name).exists():
        raise HTTPException(400, f"label file {incoming.filename!r} was sent twice")
    _copy_checked(incoming, folder / name, suffix, limits, spent)
    return name[: -len(suffix)], name


def _copy_limited(incoming: Incoming, target: Path, limits: Limits, spent: _Spent) -> None:
    """Copy at most the limits' bytes; the content is counted, not the size the client gave."""
    size = 0
    with target.open("wb") as out:
        while chunk := incoming.file.read(CHUNK):
            size += len(chunk)
            if size > limits.file_bytes:
                raise HTTPException(413, f"file {incoming.filename!r} is larger than "
                                         f"{_mb(limits.file_bytes)}, the limit per file")
            if spent.sent + size > limits.request_bytes:
                raise HTTPException(413, f"the upload is larger than "
                                         f"{_mb(limits.request_bytes)} (reached at file "
                                         f"{incoming.filename!r}); send fewer files at once")
            out.write(chunk)
    spent.sent += size


def _unpack(source: BinaryIO, out: BinaryIO | None, filename: str, limits: Limits,
            spent: _Spent) -> None:
    """Read a decompressing stream to its end (into ``out`` when given), counting every byte
    against the request's unpacked budget: an archive's declared sizes are never trusted.

    Raises:
        HTTPException: 413 once the request has unpacked more than ``limits.unpacked_bytes``.
    """
    while chunk := source.read(CHUNK):
        spent.unpacked += len(chunk)
        if spent.unpacked > limits.unpacked_bytes:
            raise HTTPException(413, f"file {filename!r} unpacks to more than "
                                     f"{_mb(limits.unpacked_bytes)}, the limit per upload "
                                     "(the files sent with it counted too); send smaller or "
                                     "fewer files at once")
        if out is not None:
            out.write(chunk)


def _copy_checked(incoming: Incoming, target: Path, suffix: str, limits: Limits,
                  spent: _Spent) -> None:
    if target.exists():
        raise HTTPException(400, f"file {incoming.filename!r} was sent twice")
    _copy_limited(incoming, target, limits, spent)
    with target.open("rb") as file:
        head = file.read(1024)
    problem = _content_problem(head, suffix)
    if problem is None and suffix == ".nii.gz":
        problem = _gzip_problem(incoming.filename, target, limits, spent)
    if problem:
        raise HTTPException(415, f"file {incoming.filename!r} is not a {suffix} file by its "
                                 f"content: {problem}")


def _gzip_problem(filename: str, path: Path, limits: Limits, spent: _Spent) -> str | None:
    """Why the gzip file ``path`` does not hold a NIfTI image; None when it does. The whole
    stream is decompressed once, bounded (see :func:`_unpack`), so a corrupt or bomb-sized one
    is refused here, before any reader sees it."""
    try:
        with gzip.open(path, "rb") as file:
            head = file.read(348)
            spent.unpacked += len(head)
            problem = _nifti_problem(head)
            _unpack(file, None, filename, limits, spent)
    except (OSError, EOFError, zlib.error):
        return "its gzip stream is corrupt or truncated"
    return problem


def _content_problem(head: bytes, suffix: str) -> str | None:
    """Why ``head`` (the file's first bytes) is not of type ``suffix``; None when it is."""
    if suffix == ".png":
        return None if head.startswith(_PNG) else "it lacks the PNG signature"
    if suffix == ".nii":
        return _nifti_problem(head)
    if suffix == ".nii.gz":
        return None if head.startswith(b"\x1f\x8b") else "it is not gzip-compressed"
    if suffix == ".nrrd":
        if not re.match(rb"NRRD000[1-9]\r?\n", head):
            return "it lacks the NRRD000x magic line"
        header = head.split(b"\n\n", 1)[0].lower()
        if re.search(rb"^data ?file\s*:", header, re.MULTILINE):
            return "its header names a separate data file; give an NRRD with attached data"
        return None
    return f"unknown type {suffix}"


def _nifti_problem(head: bytes) -> str | None:
    return None if head[344:348] in (b"n+1\x00", b"ni1\x00") else "it lacks the NIfTI-1 magic"


def _extract_dicom_zip(filename: str, archive: Path, folder: Path, limits: Limits,
                       spent: _Spent) -> None:
    """Extract a zip of DICOM files flat into ``folder``, member names sanitised, every byte
    counted as it is written (see :func:`_unpack`).

    Raises:
        HTTPException: 400 for an unreadable zip, an absolute or ``..`` member path, too many
            members or no member at all; 413 once the request unpacked too much; 415 for a
            member that is not DICOM.
    """
    def refuse(why: str, status: int = 400) -> HTTPException:
        return HTTPException(status, f"zip file {filename!r}: {why}; give a zip holding only "
                                     "the DICOM files of one series")
    with archive.open("rb") as file:
        if file.read(4) != b"PK\x03\x04":
            raise refuse("it is not a zip by its content (no 'PK' signature)", 415)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            for member in members:
                parts = PurePosixPath(member.filename.replace("\\", "/"))
                if parts.is_absolute() or ".." in parts.parts or re.match(r"^[A-Za-z]:",
                                                                          member.filename):
                    raise refuse(f"member {member.filename!r} has an absolute or '..' path")
            if not members:
                raise refuse("it holds no file")
            if len(members) > MAX_ZIP_MEMBERS:
                raise refuse(f"it holds {len(members)} files, more than {MAX_ZIP_MEMBERS}")
            folder.mkdir()
            for i, member in enumerate(members):
                with zf.open(member) as source:
                    head = source.read(132)
                    if head[128:132] != b"DICM":
                        raise refuse(f"member {member.filename!r} is not a DICOM file "
                                     "(no 'DICM' at byte 128)", 415)
                    target = folder / f"{i:05d}-{_UNSAFE.sub('_', Path(member.filename).name)}"
                    spent.unpacked += len(head)
                    with target.open("wb") as out:
                        out.write(head)
                        _unpack(source, out, filename, limits, spent)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            zlib.error) as exc:
        raise refuse(f"not a readable zip ({exc})") from None


def _mb(n: int) -> str:
    return f"{n / 1e6:g} MB"
