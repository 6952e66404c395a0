"""Field types the sections of the experiment file share.

- :data:`Slug` and :data:`LabelName`: names that end up in ids, file names and the ranking
  grammar (``"dice:femur >= 0.9"``), so they are restricted to characters that survive there.
- :data:`ResolvedPath`: a path that, when the file is loaded, is resolved against the folder of
  the YAML file (the loader passes it as ``base_dir`` in the validation context), so an
  experiment can be run from any working directory.
- :func:`as_list`: lets a scalar stand for a one-element list (``loss: dice``).
- :func:`patient_pattern`: a pattern naming the patient (and site) inside a case id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, ValidationInfo

RESERVED_LABELS: tuple[str, ...] = ("mean", "case")
"""Labels the per-case table uses itself: the mean over classes and case-level values."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
"""Lower-case letters, digits, ``_`` and ``-``; starts with a letter or digit."""

LabelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][\w.-]*$", max_length=64)]
"""A class or landmark name: letters, digits, ``_``, ``.`` and ``-`` (no spaces)."""


def _resolve(path: Path, info: ValidationInfo) -> Path:
    path = path.expanduser()
    base = (info.context or {}).get("base_dir")
    if base is None or path.is_absolute():
        return path
    return (Path(base) / path).resolve()


ResolvedPath = Annotated[Path, AfterValidator(_resolve)]
"""A path; relative ones are resolved against the ``base_dir`` of the validation context."""


def as_list(value: Any) -> Any:
    """``value`` itself if it is a list or tuple, else ``[value]`` (None stays None)."""
    if value is None or isinstance(value, list | tuple):
        return value
    return [value]


def distinct_names(names: list[str], what: str) -> list[str]:
    """Check that ``names`` do not repeat and are not a reserved label.

    Raises:
        ValueError: a repeated or reserved name, named in the message.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} name {name!r} appears twice; names must be unique")
        if name in RESERVED_LABELS:
            raise ValueError(
                f"{what} name {name!r} is reserved for the per-case table "
                f"({', '.join(RESERVED_LABELS)}); rename it"
            )
        seen.add(name)
    return names


def patient_pattern(text: str) -> re.Pattern[str]:
    """Compile a pattern whose named group ``patient`` (and optionally ``site``) is read from a
    case id, e.g. ``(?P<patient>.+)_z\\d+`` for slices ``p7_z012``.

    Raises:
        ValueError: it does not compile, or has no group named ``patient``.
    """
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise ValueError(f"{text!r} is not a regular expression ({exc})") from None
    if "patient" not in pattern.groupindex:
        raise ValueError(f"{text!r} has no named group 'patient'; write e.g. "
                         r"'(?P<patient>.+)_z\d+' (the part of the case id naming the patient)")
    return pattern
