"""The states a run, an evaluation, a prediction and a model version are stored in.

String enums, so a value read back from the database (a plain ``str``) compares equal to its
member and JSON carries the word itself. The schema's CHECK constraints list these values.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a training run stands; ``pruned``: an Optuna pruner stopped it early (its curve
    and checkpoints are kept)."""

    PENDING = "pending"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    FINISHED = "finished"
    FAILED = "failed"
    PRUNED = "pruned"


class EvaluationStatus(StrEnum):
    """Where the evaluation of one model on one case set stands."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class PredictionStatus(StrEnum):
    """Whether a model's prediction of one case was found and read."""

    OK = "ok"
    MISSING = "missing"
    ERROR = "error"


class VersionStatus(StrEnum):
    """A model version's place in the registry: one ``champion`` per task and scope."""

    CHAMPION = "champion"
    RETIRED = "retired"
    REJECTED = "rejected"
    CANDIDATE = "candidate"
