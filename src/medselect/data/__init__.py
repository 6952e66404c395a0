"""Layer 1: cases, dataset versions, the named case sets of a task and the tables of its cases.

Readers, manifests, the phantom, splits and imports live in their modules
(``medselect.data.importer``, ``medselect.data.readers``, ...); the package face holds what
the layers above resolve by name, and the tables a notebook reads::

    >>> from medselect.data import export_case_metrics, named_case_set
    >>> with ws.connect() as conn:
    ...     selection = named_case_set(conn, "knee", "val")
    ...     table = export_case_metrics(conn, "knee", case_set="test")  # a pandas DataFrame
"""

from medselect.data.casesets import (
    CASE_SET_NAMES,
    case_set_names,
    latest_training_version,
    named_case_set,
)
from medselect.data.exports import cases_by_site, export_case_metrics, task_cases
from medselect.data.tasks import stored_ranking

__all__ = [
    "CASE_SET_NAMES",
    "case_set_names",
    "cases_by_site",
    "export_case_metrics",
    "latest_training_version",
    "named_case_set",
    "stored_ranking",
    "task_cases",
]
