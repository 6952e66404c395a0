"""Layer 1: cases, dataset versions and the named case sets of a task.

Readers, manifests, the phantom, splits and imports live in their modules
(``medselect.data.importer``, ``medselect.data.readers``, ...); the package face holds what
the layers above resolve by name::

    >>> from medselect.data import named_case_set
    >>> with ws.connect() as conn:
    ...     selection = named_case_set(conn, "knee", "val")
"""

from medselect.data.casesets import (
    CASE_SET_NAMES,
    case_set_names,
    latest_training_version,
    named_case_set,
)
from medselect.data.tasks import stored_ranking

__all__ = [
    "CASE_SET_NAMES",
    "case_set_names",
    "latest_training_version",
    "named_case_set",
    "stored_ranking",
]
