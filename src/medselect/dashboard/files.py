"""Which workspace files the dashboard serves (``/artifacts/<uri>``) and the export copies,
and the containment check the case viewer's volumes (:mod:`.volumes`) are read through.

Only files inside the workspace (the resolved path, symlinks followed, must lie under the
resolved workspace folder), and only kinds the pages show: images and prediction volumes
anywhere in it, and HTML pages only directly in ``registry/decisions/`` (the decision reports
the registry page links; no subfolder, no other HTML), never the database or anything else.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from medselect.errors import NotFound
from medselect.registry.promotion import DECISIONS_DIR

__all__ = ["REPORT_FOLDER", "REPORT_SUFFIXES", "SERVED_SUFFIXES", "artifact_path", "is_report",
           "workspace_entry"]

SERVED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".nii", ".nii.gz", ".nrrd")
REPORT_FOLDER = PurePosixPath(DECISIONS_DIR).parts
"""The only folder (relative to the workspace) whose HTML files are served."""
REPORT_SUFFIXES = (".html",)


def artifact_path(root: Path, relative: str) -> Path:
    """The file ``relative`` names inside ``root``.

    Raises:
        NotFound: it lies outside ``root`` (``..``, an absolute path, a symlink out), is not
            a regular file, or is not a kind of file the dashboard serves.
    """
    path = workspace_entry(root, relative)
    if not path.is_file() or not (path.name.lower().endswith(SERVED_SUFFIXES)
                                  or is_report(path, root.resolve())):
        raise NotFound(f"no artifact {relative!r} in the workspace")
    return path


def workspace_entry(root: Path, relative: str) -> Path:
    """The existing file or folder (a DICOM series) ``relative`` names inside ``root``,
    resolved.

    Raises:
        NotFound: it does not exist or lies outside ``root`` (``..``, an absolute path, a
            symlink out).
    """
    refusal = NotFound(f"no artifact {relative!r} in the workspace")
    if "\x00" in relative or relative.startswith(("/", "\\")):
        raise refusal
    base = root.resolve()
    try:
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        raise refusal from None
    if not path.is_relative_to(base):
        raise refusal
    return path


def is_report(path: Path, base: Path) -> bool:
    """Whether the resolved ``path`` is an HTML file directly in ``<base>/registry/decisions``
    (``base`` resolved too)."""
    return (path.is_relative_to(base) and path.parent.relative_to(base).parts == REPORT_FOLDER
            and path.name.lower().endswith(REPORT_SUFFIXES))


def served(root: Path, relative: str) -> bool:
    """Whether :func:`artifact_path` serves ``relative``."""
    try:
        artifact_path(root, relative)
    except NotFound:
        return False
    return True
