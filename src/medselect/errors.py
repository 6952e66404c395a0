"""Every error medselect raises on purpose.

A message names the file, field or case, says what was wrong and what to do. Each class also
subclasses the built-in exception a caller would expect, so ``except ValueError`` keeps working::

    MedselectError
    ├── ConfigError (ValueError)          experiment YAML, command-line choices
    ├── DataError (ValueError)            images, labels, manifests, datasets
    │   ├── ImageReadError                one file could not be read
    │   ├── DatasetInvalid                a dataset check found problems (all listed)
    │   └── LeakageError                  a patient or image is in training and test
    ├── StoreError (RuntimeError)         workspace and database
    │   ├── SchemaVersionError            database written by another schema version
    │   └── NotFound (LookupError)        an id that is not in the store
    ├── TrainingError (RuntimeError)      one run could not train
    ├── EvaluationError (RuntimeError)    one model or case could not be evaluated
    ├── RankingError (ValueError)         a ranking request that cannot be answered
    ├── RegistryError (RuntimeError)      registry, promotion gate, audit log
    └── ExportError (RuntimeError)        a champion could not be exported, or its export
                                          does not compute what medselect computes
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "DataError",
    "DatasetInvalid",
    "EvaluationError",
    "ExportError",
    "ImageReadError",
    "LeakageError",
    "MedselectError",
    "NotFound",
    "Problem",
    "RankingError",
    "RegistryError",
    "SchemaVersionError",
    "StoreError",
    "TrainingError",
    "as_flags",
]

_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)=`")


def as_flags(text: str) -> str:
    """``text`` with each parameter it names as `` `name=` `` written as the flag ``--name``.

    Library messages name what to change by its Python parameter, which a notebook user
    passes; the CLI shows the same message with the flags that set those parameters.
    """
    return _PARAMETER.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


class MedselectError(Exception):
    """Base of every error medselect raises on purpose; the CLI prints its message in one line.

    Args:
        message: what was wrong and what to do.
        param: the Python parameter the error is about (``sliding_window``); the message then
            starts with it, and the CLI shows it as the flag that sets it
            (``--sliding-window``), so neither the library nor the CLI spells the other's names.
            Other parameters the message advises are written `` `name=` `` (:func:`as_flags`).
    """

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        self.param = param
        super().__init__(f"{param}: {message}" if param else message)

    def for_flags(self) -> str:
        """The message with its parameters written as the command-line flags."""
        text = str(self)
        if self.param and text.startswith(f"{self.param}: "):
            text = f"`{self.param}=`{text[len(self.param):]}"
        return as_flags(text)


class ConfigError(MedselectError, ValueError):
    """An experiment file or option is invalid; the message names the file and field path."""


class DataError(MedselectError, ValueError):
    """Input data is unusable; the message names the case and file."""


class ImageReadError(DataError):
    """One image or label file could not be read."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset, located as precisely as possible."""

    message: str
    case_id: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"case {self.case_id!r}" if self.case_id else None,
                                      self.file) if p)
        return f"{where}: {self.message}" if where else self.message


class DatasetInvalid(DataError):
    """A dataset has problems; all of them are in ``problems``, not only the first.

    ``valid`` holds what could still be read (e.g. the manifest rows without problems), so a
    checker can go on and report the problems of those too.
    """

    def __init__(self, problems: Sequence[Problem], source: str = "dataset",
                 valid: Sequence[object] = ()):
        self.problems = list(problems)
        self.source = source
        self.valid = list(valid)
        head = self.problems[0] if self.problems else Problem("no problems listed")
        first = head.message if head.file == source and not head.case_id else str(head)
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{source}: {first}{more}")


class LeakageError(DataError):
    """The same patient or the same image content is on both sides of a train/test split."""


class StoreError(MedselectError, RuntimeError):
    """The workspace or its database cannot be used as asked."""


class SchemaVersionError(StoreError):
    """The database was written by another schema version of medselect."""


class NotFound(StoreError, LookupError):
    """An id (run, case, dataset version, ...) is not in the store."""


class TrainingError(MedselectError, RuntimeError):
    """One training run failed; the sweep records it and goes on."""


class EvaluationError(MedselectError, RuntimeError):
    """One model or case could not be evaluated; the others go on."""


class RankingError(MedselectError, ValueError):
    """A ranking request cannot be answered from the per-case table."""


class RegistryError(MedselectError, RuntimeError):
    """A registry, promotion-gate or audit-log operation was refused or failed."""


class ExportError(MedselectError, RuntimeError):
    """A model could not be exported, or its exported form failed the check against PyTorch."""
