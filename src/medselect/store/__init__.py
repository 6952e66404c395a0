"""The workspace: a folder of artifacts and the database that indexes them (SQLAlchemy Core).

Data-access functions take a :class:`sqlalchemy.Connection` first and return plain dicts keyed
by column name (JSON columns decoded, timestamps timezone-aware UTC datetimes); a missing id
raises :class:`~medselect.errors.NotFound`. Write inside one transaction::

    ws = Workspace.open("medselect-workspace")
    with ws.begin() as conn:
        upsert_run(conn, {...})
    with ws.connect() as conn:
        runs = list_runs(conn, task="knee", status=RunStatus.FINISHED)

Tables and their column values: :mod:`medselect.store.schema`; the statuses a run, an
evaluation and a model version are stored in: :mod:`medselect.store.statuses`.
"""

from medselect.store.artifacts import atomic_path, atomic_write_bytes, atomic_write_text
from medselect.store.audit import (
    add_audit_event,
    audit_head,
    get_audit_event,
    last_audit_event,
    list_audit_events,
)
from medselect.store.datasets import (
    add_case_set,
    add_dataset_version,
    case_in_set,
    case_set_hash,
    case_set_members,
    get_case,
    get_case_set,
    get_cases,
    get_dataset_version,
    get_task,
    labelled_case_sets,
    latest_dataset_version,
    list_case_sets,
    list_dataset_versions,
    put_task,
    set_reference_case_set,
    set_task_ranking,
    task_family,
)
from medselect.store.engine import REGISTRY_LOCK, serialize
from medselect.store.evaluations import (
    CaseGrid,
    CaseValues,
    case_metric_table,
    case_metric_values,
    evaluated_metrics,
    find_evaluation,
    get_evaluation,
    get_external_model,
    get_predictions,
    latest_evaluations,
    latest_metric_policy,
    list_evaluations,
    list_external_models,
    predictions_of_case,
    put_evaluation,
    put_external_model,
    replace_case_metrics,
    replace_predictions,
    set_evaluation_status,
)
from medselect.store.location import ENV_URL, database_url, shareable_url
from medselect.store.metric_arrays import case_metrics_stamp
from medselect.store.model_versions import (
    add_model_version,
    find_model_version,
    get_model_version,
    list_model_versions,
    update_model_version,
)
from medselect.store.removal import RemovedCaseSet, remove_new_case_set
from medselect.store.reviews import (
    acceptance_by_case,
    acceptance_rates,
    add_review,
    list_reviews,
    review_stamp,
    review_table,
)
from medselect.store.runs import (
    add_epoch_metrics,
    get_epoch_metrics,
    get_run,
    latest_epoch_metrics,
    list_runs,
    set_run_status,
    upsert_run,
)
from medselect.store.schema import SCHEMA_VERSION, metadata
from medselect.store.statuses import EvaluationStatus, PredictionStatus, RunStatus, VersionStatus
from medselect.store.timestamps import utcnow
from medselect.store.workspace import Workspace

__all__ = [
    "ENV_URL",
    "REGISTRY_LOCK",
    "SCHEMA_VERSION",
    "CaseGrid",
    "CaseValues",
    "EvaluationStatus",
    "PredictionStatus",
    "RemovedCaseSet",
    "RunStatus",
    "VersionStatus",
    "Workspace",
    "acceptance_by_case",
    "acceptance_rates",
    "add_audit_event",
    "add_case_set",
    "add_dataset_version",
    "add_epoch_metrics",
    "add_model_version",
    "add_review",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "audit_head",
    "case_in_set",
    "case_metric_table",
    "case_metric_values",
    "case_metrics_stamp",
    "case_set_hash",
    "case_set_members",
    "database_url",
    "evaluated_metrics",
    "find_evaluation",
    "find_model_version",
    "get_audit_event",
    "get_case",
    "get_case_set",
    "get_cases",
    "get_dataset_version",
    "get_epoch_metrics",
    "get_evaluation",
    "get_external_model",
    "get_model_version",
    "get_predictions",
    "get_run",
    "get_task",
    "labelled_case_sets",
    "last_audit_event",
    "latest_dataset_version",
    "latest_epoch_metrics",
    "latest_evaluations",
    "latest_metric_policy",
    "list_audit_events",
    "list_case_sets",
    "list_dataset_versions",
    "list_evaluations",
    "list_external_models",
    "list_model_versions",
    "list_reviews",
    "list_runs",
    "metadata",
    "predictions_of_case",
    "put_evaluation",
    "put_external_model",
    "put_task",
    "remove_new_case_set",
    "replace_case_metrics",
    "replace_predictions",
    "review_stamp",
    "review_table",
    "serialize",
    "set_evaluation_status",
    "set_reference_case_set",
    "set_run_status",
    "set_task_ranking",
    "shareable_url",
    "task_family",
    "update_model_version",
    "upsert_run",
    "utcnow",
]
