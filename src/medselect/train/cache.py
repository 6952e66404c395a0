"""Prepared cases kept in the workspace, so that the runs of a sweep prepare each case once.

Preparing a case (reading its files, normalising the image, resizing image and target to the
input size, drawing a landmarks heatmap) is deterministic: one dataset version, normalisation,
input size and task plugin give the same tensors in every run. MONAI's ``PersistentDataset``
keeps them in ``<workspace>/cache/<dataset version>/<preparation key>/``, one file per case named
by a hash of the case's row (its content hash and files), each written under a temporary name
beside it and renamed into place, so the runs of a sweep (local processes, Ray workers on a
shared file system) share them. Random augmentation stays after the cache: it runs per item,
per epoch.

The key covers everything a prepared tensor depends on (:func:`preparation_key`); a stale
entry cannot be read for another preparation. Deleting ``<workspace>/cache`` is always safe:
the next run prepares the cases again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.data import PersistentDataset
from monai.transforms import Compose, Transform

from medselect.config.run import RunConfig
from medselect.errors import MedselectError
from medselect.tasks.base import as_task_info

if TYPE_CHECKING:
    from medselect.tasks.base import TaskLike, TaskPlugin

CACHE_FOLDER = "cache"
"""The workspace folder that holds prepared cases, one subfolder per dataset version."""
FORMAT = 1
"""Bump when the preparation code changes what it makes, so old entries are not read."""

Item = dict[str, torch.Tensor]
Row = Mapping[str, Any]
_ROW_FIELDS = ("case_id", "content_hash", "image_uris", "label_uri", "landmarks_uri", "target")


def preparation_key(config: RunConfig, plugin: TaskPlugin, task: TaskLike) -> str:
    """Hash of what a prepared case depends on beside the case itself: the input size, the
    normalisation, the task (channels, classes, dimensions) and the plugin with its settings
    (a landmarks plugin's heatmap sigma)."""
    parts = {
        "format": FORMAT,
        "input_size": list(config.input_size),
        "normalization": config.normalization.value,
        "task": repr(as_task_info(task)),
        "plugin": f"{type(plugin).__module__}.{type(plugin).__qualname__}",
        "plugin_settings": repr(sorted(vars(plugin).items())),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def row_key(row: Row) -> bytes:
    """The cache file name of a case: a hash of the fields of its row that say what it holds."""
    fields = {name: row.get(name) for name in _ROW_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest(
        ).encode()


def cached_items(rows: Sequence[Row], prepare: Callable[[Row], Item], folder: Path) -> list[Item]:
    """``prepare(row)`` for every row, read from ``folder`` where an earlier run left it, else
    made and left there for the next run.

    Raises:
        MedselectError: what ``prepare`` raised (a DataError naming the case).
    """
    dataset = PersistentDataset([dict(row) for row in rows], Compose([_Prepare(prepare)]),
                                cache_dir=folder, hash_func=row_key)
    try:
        with _temporary_files_in(folder):
            return [dataset[i] for i in range(len(dataset))]
    except RuntimeError as exc:  # MONAI wraps what a transform raised: give the user ours
        cause = exc
        while cause.__cause__ is not None and not isinstance(cause, MedselectError):
            cause = cause.__cause__
        if isinstance(cause, MedselectError):
            raise cause from None
        raise


@contextmanager
def _temporary_files_in(folder: Path) -> Iterator[None]:
    """Python's temporary files made inside ``folder`` for the block.

    MONAI writes a cache file in the temporary folder and moves it into place; the move is an
    atomic rename only within one file system, and the system's temporary folder is often on
    another (tmpfs, a node-local disk), where a run reading the cache could meet a half-copied
    file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with _TEMPDIR_LOCK:  # tempfile.tempdir is one per process: two threads must not interleave
        previous, tempfile.tempdir = tempfile.tempdir, str(folder)
        try:
            yield
        finally:
            tempfile.tempdir = previous


_TEMPDIR_LOCK = threading.Lock()


class _Prepare(Transform):
    """``prepare`` as a deterministic MONAI transform: the part PersistentDataset caches."""

    def __init__(self, prepare: Callable[[Row], Item]) -> None:
        self.prepare = prepare

    def __call__(self, row: Row) -> Item:
        return self.prepare(row)
