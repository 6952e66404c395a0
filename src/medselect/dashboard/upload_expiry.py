"""Stored uploads expire: all but the newest ``max_stored``, and any older than ``max_age_days``.

What an upload creates, and so all that expiring it removes: its folder ``uploads/<id>/``
(images, labels, manifest, status) and, once predicted, the case set of kind ``new`` named
after it, with the evaluations on it and their artifact folders, the reviews of its cases, and
its dataset version and stored case files when nothing else uses them
(:func:`medselect.store.remove_new_case_set`). Training data, reference sets and evaluations of
other case sets are never touched. The database goes first, in one transaction, then the
files, so an interrupted expiry leaves at worst unused files, removed by the next one.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

from medselect.dashboard.settings import DashboardSettings
from medselect.dashboard.upload_staging import (
    UPLOAD_ID,
    UPLOADS_DIR,
    manifest_name,
    upload_folder,
    upload_time,
)
from medselect.evaluate.artifacts import EVALUATIONS_DIR
from medselect.store import Workspace, list_case_sets, remove_new_case_set

__all__ = ["expire_stored_uploads", "expire_uploads", "remove_upload", "stored_uploads"]

log = logging.getLogger(__name__)


def stored_uploads(root: Path) -> list[str]:
    """The ids of the uploads stored under ``root``, oldest first: by the time in the id, then,
    within its second, by when the upload's manifest was written."""
    folder = root / UPLOADS_DIR
    if not folder.is_dir():
        return []
    ids = [p.name for p in folder.iterdir() if p.is_dir() and UPLOAD_ID.fullmatch(p.name)]
    return sorted(ids, key=lambda uid: (upload_time(uid),
                                        _written(folder / uid / manifest_name(uid))))


def _written(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def expire_uploads(ws: Workspace, *, max_stored: int, max_age_days: float,
                   keep: Collection[str] = (), now: datetime | None = None) -> list[str]:
    """Remove the uploads beyond the newest ``max_stored`` and those older than
    ``max_age_days``, except those in ``keep`` (still waiting or being predicted); return the
    ids removed.

    Args:
        now: the time ages are measured at; default the current UTC time.
    """
    oldest_kept = (now or datetime.now(UTC)) - timedelta(days=max_age_days)
    uploads = stored_uploads(ws.root)
    surplus = set(uploads[:max(len(uploads) - max_stored, 0)])
    expired = [uid for uid in uploads if uid not in keep
               and (uid in surplus or upload_time(uid) < oldest_kept)]
    for upload_id in expired:
        remove_upload(ws, upload_id)
    return expired


def expire_stored_uploads(ws: Workspace, settings: DashboardSettings,
                          keep: Collection[str] = ()) -> list[str]:
    """:func:`expire_uploads` with the settings' cap and age, as the server runs it (at start
    and after each upload): a failure is logged, not raised, since serving and taking uploads
    matter more than housekeeping, and the next run retries."""
    try:
        return expire_uploads(ws, max_stored=settings.max_stored_uploads,
                              max_age_days=settings.max_upload_age_days, keep=keep)
    except Exception:
        log.exception("stored uploads could not be expired in %s", ws.root)
        return []


def remove_upload(ws: Workspace, upload_id: str) -> None:
    """Remove one upload and everything it created (see the module's docstring)."""
    with ws.begin() as conn:
        removed = [remove_new_case_set(conn, row["id"])
                   for row in list_case_sets(conn, kind="new") if row["name"] == upload_id]
    for case_set in removed:
        for evaluation in case_set.evaluations:
            shutil.rmtree(ws.path(f"{EVALUATIONS_DIR}/{evaluation}"), ignore_errors=True)
        for uri in case_set.unused_files:
            _remove(ws.path(uri))
    shutil.rmtree(upload_folder(ws.root, upload_id), ignore_errors=True)


def _remove(path: Path) -> None:
    """Remove a stored case file, or the folder of a DICOM series."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
