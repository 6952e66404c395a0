"""Every table of the workspace database, designed once for the whole product.

Conventions: column names that refer to another table are that table's name (``task``,
``dataset_version``, ``case_set``, ``run``, ``evaluation``); JSON columns hold plain JSON values;
timestamps are timezone-aware UTC (:class:`~medselect.store.timestamps.UTCDateTime`); file
locations (``*_uri``) are workspace-relative POSIX paths or full URIs. Enumerated columns carry a
CHECK constraint listing their values (the tuples below). Bump :data:`SCHEMA_VERSION` whenever a
table changes: a workspace written by another version is refused, never silently altered.
"""

from __future__ import annotations

import sqlalchemy as sa

from medselect.store.statuses import EvaluationStatus, PredictionStatus, RunStatus, VersionStatus
from medselect.store.timestamps import UTCDateTime, utcnow

SCHEMA_VERSION = 4

SPLITS = ("train", "val", "test")
CASE_SET_KINDS = ("test", "val", "reference", "new", "custom")
RUN_STATUSES = tuple(s.value for s in RunStatus)
"""Version 3 of the schema added ``pruned``."""
EVALUATION_STATUSES = tuple(s.value for s in EvaluationStatus)
PREDICTION_STATUSES = tuple(s.value for s in PredictionStatus)
VERDICTS = ("acceptable", "not_acceptable")
MODEL_VERSION_STATUSES = tuple(s.value for s in VersionStatus)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=column)


def _created_at() -> sa.Column:
    return sa.Column("created_at", UTCDateTime(), nullable=False, default=utcnow)


def _fk(
    column: str,
    target: str,
    *,
    nullable: bool = False,
    primary_key: bool = False,
    ondelete: str | None = None,
    use_alter: bool = False,
) -> sa.Column:
    """A string column referring to ``target`` (``"task.name"``)."""
    key = sa.ForeignKey(target, ondelete=ondelete, use_alter=use_alter)
    return sa.Column(column, sa.String, key, nullable=nullable, primary_key=primary_key)


meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)

task = sa.Table(
    "task",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("config", sa.JSON, nullable=False, default=dict),
    sa.Column("ranking", sa.JSON(none_as_null=True), nullable=True,
              comment="the experiment's ranking section (RankingSpec as JSON); NULL: none given"),
    _created_at(),
)

dataset_version = sa.Table(
    "dataset_version",
    metadata,
    sa.Column("id", sa.String, primary_key=True, comment="content hash of the version"),
    _fk("task", "task.name"),
    _fk("parent_id", "dataset_version.id", nullable=True),
    _created_at(),
    sa.Column("n_cases", sa.Integer, nullable=False),
    sa.Column("description", sa.String, nullable=False, default=""),
    sa.Column("source", sa.JSON, nullable=False, default=dict, comment="how it was imported"),
    # The frozen test set this version is judged on; case_set also refers back to
    # dataset_version, so this side of the cycle is added after both tables exist.
    _fk("reference_case_set", "case_set.id", nullable=True, use_alter=True),
    sa.Index(None, "task", "created_at"),
)

case = sa.Table(
    "case",
    metadata,
    _fk("dataset_version", "dataset_version.id", ondelete="CASCADE", primary_key=True),
    sa.Column("case_id", sa.String, primary_key=True),
    sa.Column("patient_id", sa.String, nullable=False),
    sa.Column("site", sa.String, nullable=False, default="default"),
    sa.Column("split", sa.String, nullable=False),
    sa.Column("image_uris", sa.JSON, nullable=False),
    sa.Column("label_uri", sa.String),
    sa.Column("landmarks_uri", sa.String),
    sa.Column("target", sa.Integer),
    sa.Column("content_hash", sa.String, nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False, default=dict),
    _one_of("split", SPLITS),
    sa.Index(None, "dataset_version", "split"),
    sa.Index(None, "content_hash"),
    sa.Index(None, "patient_id"),
)

case_set = sa.Table(
    "case_set",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    _fk("task", "task.name"),
    _fk("dataset_version", "dataset_version.id"),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("content_hash", sa.String, nullable=False),
    sa.Column("frozen", sa.Boolean, nullable=False, default=False),
    _created_at(),
    _one_of("kind", CASE_SET_KINDS),
    sa.Index(None, "task", "kind"),
    sa.Index(None, "content_hash"),
)

case_set_member = sa.Table(
    "case_set_member",
    metadata,
    _fk("case_set", "case_set.id", ondelete="CASCADE", primary_key=True),
    sa.Column("dataset_version", sa.String, primary_key=True),
    sa.Column("case_id", sa.String, primary_key=True),
    sa.ForeignKeyConstraint(
        ["dataset_version", "case_id"], ["case.dataset_version", "case.case_id"]
    ),
)

run = sa.Table(
    "run",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    _fk("task", "task.name"),
    _fk("dataset_version", "dataset_version.id"),
    sa.Column("sweep", sa.String, comment="name of the sweep that asked for this run"),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("config_hash", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False, default="pending"),
    sa.Column("error", sa.String),
    sa.Column("traceback", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    _created_at(),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("duration_s", sa.Float),
    sa.Column("checkpoint_uri", sa.String),
    sa.Column("best_metric", sa.Float),
    sa.Column("n_parameters", sa.Integer),
    sa.Column("device", sa.String),
    sa.Column("worker", sa.String, comment="host:pid of the process training it"),
    sa.Column("details", sa.JSON, nullable=False, default=dict,
              comment="what the config names, spelled out (augmentation preset contents)"),
    _one_of("status", RUN_STATUSES),
    sa.Index(None, "task", "status"),
    sa.Index(None, "sweep"),
    sa.Index(None, "config_hash"),
    sa.Index(None, "dataset_version"),
)

epoch_metric = sa.Table(
    "epoch_metric",
    metadata,
    _fk("run", "run.id", ondelete="CASCADE", primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.Float, comment="NULL when the value was not a number"),
)

external_model = sa.Table(
    "external_model",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    _fk("task", "task.name"),
    sa.Column("description", sa.String, nullable=False, default=""),
    sa.Column("source_uri", sa.String),
    _created_at(),
)

evaluation = sa.Table(
    "evaluation",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("model_ref", sa.String, nullable=False, comment="a run id or 'external:<name>'"),
    _fk("case_set", "case_set.id"),
    _fk("dataset_version", "dataset_version.id"),
    sa.Column("status", sa.String, nullable=False, default="pending"),
    _created_at(),
    sa.Column("duration_s", sa.Float),
    sa.Column("metric_policy", sa.JSON, nullable=False, default=dict,
              comment="metric definitions and empty-mask policy the values were computed with"),
    _one_of("status", EVALUATION_STATUSES),
    sa.Index(None, "model_ref", "case_set"),
    sa.Index(None, "case_set"),
)

case_metric = sa.Table(
    "case_metric",
    metadata,
    _fk("evaluation", "evaluation.id", ondelete="CASCADE", primary_key=True),
    sa.Column("case_id", sa.String, primary_key=True),
    sa.Column("metric", sa.String, primary_key=True),
    sa.Column("label", sa.String, primary_key=True, default="",
              comment="structure or class the value is for; '' for a whole-case value"),
    sa.Column("value", sa.Float, comment="NULL when the metric is undefined for the case"),
    sa.Index(None, "metric"),
)

case_metric_array = sa.Table(
    "case_metric_array",
    metadata,
    _fk("evaluation", "evaluation.id", ondelete="CASCADE", primary_key=True),
    sa.Column("metric", sa.String, primary_key=True),
    sa.Column("label", sa.String, primary_key=True),
    sa.Column("case_ids", sa.LargeBinary, nullable=False,
              comment="the cases' ids in id order, as a zlib-compressed JSON list"),
    sa.Column("case_values", sa.LargeBinary, nullable=False,
              comment="their values as little-endian float64, NaN where case_metric has NULL"),
    comment="case_metric's rows of one evaluation, metric and label as two arrays (version 4), "
            "written with them: ranking reads a column here instead of 10^5 rows there",
)

prediction = sa.Table(
    "prediction",
    metadata,
    _fk("evaluation", "evaluation.id", ondelete="CASCADE", primary_key=True),
    sa.Column("case_id", sa.String, primary_key=True),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("error", sa.String),
    sa.Column("prediction_uri", sa.String),
    sa.Column("overlay_uri", sa.String),
    sa.Column("thumbnail_uri", sa.String),
    _one_of("status", PREDICTION_STATUSES),
)

review = sa.Table(
    "review",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_ref", sa.String, nullable=False),
    _fk("case_set", "case_set.id"),
    sa.Column("case_id", sa.String, nullable=False),
    sa.Column("reviewer", sa.String, nullable=False),
    sa.Column("verdict", sa.String, nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    _created_at(),
    _one_of("verdict", VERDICTS),
    sa.Index(None, "model_ref", "case_set", "case_id"),
    sa.Index(None, "case_set"),
)

model_version = sa.Table(
    "model_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _fk("task", "task.name"),
    sa.Column("scope", sa.String, nullable=False, comment="'global' or 'site:<name>'"),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("model_ref", sa.String, nullable=False),
    _fk("dataset_version", "dataset_version.id", nullable=True),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False, default=dict),
    sa.Column("created_by", sa.String, nullable=False),
    _created_at(),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    _one_of("status", MODEL_VERSION_STATUSES),
    sa.UniqueConstraint("task", "scope", "version"),
    sa.Index(None, "task", "scope", "status"),
)

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", UTCDateTime(), nullable=False, default=utcnow),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False, default=dict),
    sa.Column("prev_hash", sa.String),
    sa.Column("hash", sa.String, nullable=False),
    sa.UniqueConstraint("hash"),
    sa.Index(None, "action"),
)
