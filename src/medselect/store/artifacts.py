"""Atomic artifact writes: a file appears complete under its name, or not at all.

Writers fill a temporary file in the destination folder (same file system, so the final
``os.replace`` is atomic) whose name ends with the destination's name, so writers that pick a
format from the extension (nibabel, SimpleITK, Pillow) still see ``.nii.gz`` or ``.png``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_PREFIX = ".tmp-"


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``.

    Parent folders are created. On any exception the temporary file is removed and an existing
    file at ``path`` is left untouched.

    Example::

        with atomic_path(ws.path("runs/r1/model.pt")) as tmp:
            torch.save(state_dict, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}-{path.name}")
    # O_EXCL: never clobber someone else's file; mode 0o666 lets the umask decide, as open() does
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, flushed to disk before the rename; return ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode(encoding))
