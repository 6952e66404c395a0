"""What an evaluation reports back: one outcome per model, and the report of a whole call."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["finished", "reused", "failed"]


@dataclass(frozen=True)
class ModelOutcome:
    """How one model's evaluation on the case set went.

    Args:
        model_ref: the run id or ``external:<name>``.
        evaluation_id: its evaluation (see :func:`medselect.evaluate.evaluation_id`).
        status: ``finished`` (computed now), ``reused`` (already finished, not recomputed) or
            ``failed`` (the model could not be used at all; ``error`` says why).
        n_cases: cases in the case set.
        n_ok, n_missing, n_errors: cases with a usable prediction, without one, with an error.
        key_metric: the metric summaries lead with.
        key_value: mean over cases of the key metric's class mean (NaN cases left out; None
            when no case has a value, e.g. unlabelled cases).
        folder: the evaluation's files, relative to the workspace.
        error: why the evaluation failed.
        case_errors: the first few per-case error and missing messages.
        duration_s: time the evaluation took (None when reused or failed).
    """

    model_ref: str
    evaluation_id: str
    status: Status
    n_cases: int
    n_ok: int = 0
    n_missing: int = 0
    n_errors: int = 0
    key_metric: str = ""
    key_value: float | None = None
    folder: str = ""
    error: str | None = None
    case_errors: list[str] = field(default_factory=list)
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvaluationReport:
    """Every model's outcome on one case set.

    Args:
        task: the task's name.
        case_set: the case set's id; ``case_set_kind`` its kind (test, reference, new, ...).
        n_cases: cases in it.
        outcomes: one per model, in the order the models were given.
    """

    task: str
    case_set: str
    case_set_kind: str
    n_cases: int
    outcomes: list[ModelOutcome]

    @property
    def failed(self) -> list[ModelOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "case_set": self.case_set,
                "case_set_kind": self.case_set_kind, "n_cases": self.n_cases,
                "models": [o.to_dict() for o in self.outcomes]}
