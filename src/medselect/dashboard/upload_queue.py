"""Uploads in hand: a bounded number at once, predicted one after another by one thread.

At most ``capacity`` uploads are in hand at a time, whether being checked, waiting or being
predicted; one more is refused with 429 and ``Retry-After`` before its body is read, so a
burst of uploads can neither fill the disk with staged files nor start a thread each. One
daemon thread (started when work arrives, gone when none is left) predicts the waiting
uploads in turn, records progress from :func:`medselect.evaluate.evaluate_runs`'s
``on_progress``, and writes the final status to ``uploads/<id>/status.json`` so a finished
upload can still be shown after the server restarts.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterable
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel

from medselect.dashboard.upload_staging import StoredUpload, new_upload_id, upload_folder
from medselect.errors import MedselectError, NotFound
from medselect.store import Workspace
from medselect.store.artifacts import atomic_write_text

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
RETRY_AFTER_S = 30
"""What a refused upload is told to wait (seconds): about one small upload's inference."""
UploadState = Literal["queued", "running", "finished", "failed"]
ACTIVE: tuple[UploadState, ...] = ("queued", "running")


class UploadStatus(BaseModel):
    """Where one upload's inference stands (the JSON of ``/api/uploads/{id}``)."""

    upload_id: str
    status: UploadState
    done: int = 0
    total: int = 0
    task: str
    site: str
    models: list[str]
    cases: list[str]
    labelled: bool
    case_set: str | None = None
    errors: list[str] = []


_Job = tuple[Workspace, StoredUpload, UploadStatus]


class UploadJobs:
    """The uploads in hand (at most ``capacity``) and the progress of those predicted here."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._places = threading.BoundedSemaphore(capacity)
        self._status: dict[str, UploadStatus] = {}
        self._reserved: set[str] = set()
        self._lock = threading.Lock()
        self._waiting: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def reserve(self) -> Reservation:
        """A place for one upload (and its id), held until the ``with`` block that uses it
        ends, or, once the upload is started there, until its inference ends.

        Raises:
            HTTPException: 429 with ``Retry-After`` when every place is taken.
        """
        if not self._places.acquire(blocking=False):
            raise HTTPException(
                429, f"{self.capacity} uploads are already being checked or predicted, the most "
                     f"this dashboard takes at once; send this one again in {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)})
        reservation = Reservation(self, new_upload_id())
        with self._lock:
            self._reserved.add(reservation.upload_id)
        return reservation

    def get(self, ws: Workspace, upload_id: str) -> UploadStatus:
        """Raises: NotFound: no such upload (in memory, or stored by an earlier server)."""
        with self._lock:
            status = self._status.get(upload_id)
        if status is not None:
            return status
        stored = upload_folder(ws.root, upload_id) / STATUS_FILE
        try:
            return UploadStatus.model_validate_json(stored.read_text())
        except (OSError, ValueError):
            raise NotFound(f"no upload {upload_id!r} with a stored status (it may have "
                           f"expired); upload new cases at /upload") from None

    def active(self) -> set[str]:
        """The uploads in hand: being checked, waiting or being predicted (never to be
        expired)."""
        with self._lock:
            return self._reserved | {uid for uid, s in self._status.items()
                                     if s.status in ACTIVE}

    def forget(self, upload_ids: Iterable[str]) -> None:
        """Drop the statuses of removed uploads."""
        with self._lock:
            for uid in upload_ids:
                self._status.pop(uid, None)

    def _release(self, upload_id: str) -> None:
        with self._lock:
            self._reserved.discard(upload_id)
        self._places.release()

    def _enqueue(self, job: _Job) -> None:
        with self._lock:
            self._reserved.discard(job[2].upload_id)
            self._status[job[2].upload_id] = job[2]
            self._waiting.put(job)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, daemon=True,
                                                name="medselect-uploads")
                self._worker.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if self._waiting.empty():
                    self._worker = None
                    return
                job = self._waiting.get()
            try:
                self._run(*job)
            except Exception:  # e.g. the status file cannot be written: the worker goes on
                log.exception("upload %s: its status could not be stored", job[2].upload_id)
            finally:
                self._places.release()

    def _update(self, upload_id: str, **changes: object) -> UploadStatus:
        with self._lock:
            status = self._status[upload_id].model_copy(update=changes)
            self._status[upload_id] = status
        return status

    def _run(self, ws: Workspace, upload: StoredUpload, status: UploadStatus) -> None:
        from medselect.evaluate import evaluate_runs

        uid = upload.upload_id
        self._update(uid, status="running")
        try:
            report = evaluate_runs(
                ws, task=status.task, runs=status.models, case_set=upload.manifest,
                on_progress=lambda done, total: self._update(uid, done=done, total=total))
            errors = [f"{o.model_ref}: {o.error}" for o in report.failed]
            errors += [f"{o.model_ref}: {e}" for o in report.outcomes for e in o.case_errors]
            final = self._update(uid, case_set=report.case_set, errors=errors,
                                 status="failed" if len(report.failed) == len(
                                     report.outcomes) else "finished")
        except MedselectError as exc:
            final = self._update(uid, status="failed", errors=[str(exc)])
        except Exception as exc:  # a bug must not pass for a running upload
            log.exception("upload %s failed", uid)
            final = self._update(uid, status="failed", errors=[f"{type(exc).__name__}: {exc}"])
        atomic_write_text(ws.root / upload.folder / STATUS_FILE,
                          json.dumps(final.model_dump(mode="json"), indent=2))


class Reservation:
    """One place in :class:`UploadJobs` and the id of the upload that takes it: a context
    manager that gives the place back when its block ends, unless :meth:`start` handed it to
    the upload's inference."""

    def __init__(self, jobs: UploadJobs, upload_id: str) -> None:
        self._jobs = jobs
        self.upload_id = upload_id
        self._started = False

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._started:
            self._jobs._release(self.upload_id)

    def start(self, ws: Workspace, upload: StoredUpload, *, task: str, site: str,
              models: list[str]) -> UploadStatus:
        """Queue the inference of the upload stored under :attr:`upload_id`; the place is
        freed when it ends."""
        status = UploadStatus(upload_id=upload.upload_id, status="queued", task=task, site=site,
                              models=models, cases=upload.case_ids, labelled=upload.labelled,
                              total=len(models) * len(upload.case_ids))
        self._jobs._enqueue((ws, upload, status))
        self._started = True
        return status
