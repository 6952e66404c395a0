"""Reviewed new cases as training data for the next upgrade (``medselect upgrade --reviewed``).

A set of new cases (kind ``new``: ``evaluate --cases PATH`` or a dashboard upload) teaches the
system once people have looked at it. A case of such a set joins the upgrade's training data
with its patient and site when it has a reference someone gave:

- its own label (the set came with labels: corrected labels uploaded with ``evaluate --cases
  PATH --labels DIR`` or with the dashboard upload), or
- a prediction that reviewers judged acceptable: the newest such model whose current verdicts
  on the case are all ``acceptable`` (its label map, landmarks or class becomes the label).

Other cases are listed with the reason they are left out. Every added case goes to the
**training split**, fixed before splitting, and is refused (:class:`~medselect.errors.
LeakageError`) when its patient has a case in the test or validation split of the task's
latest training version or in the frozen reference set: the reference and test sets never see
a reviewed case, and a model is never confirmed on a patient it learnt from. The import checks
patients and images again (:mod:`medselect.data.importer`), and the upgrade records the added
cases in the audit log (:data:`REVIEWED_CASES_ADDED`).

What this does not check: that an accepted prediction is right everywhere (a verdict judges a
picture), nor that two patient ids are not one person.

Example::

    cases = reviewed_cases(ws, "knee", "dv-1a2b3c-new")
    [(c.case_id, c.label_source) for c in cases if c.record is not None]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from medselect.config import TaskKind
from medselect.data.case import CaseRecord
from medselect.data.casesets import latest_training_version
from medselect.errors import ConfigError, LeakageError
from medselect.evaluate.newcases import prediction_files
from medselect.registry.newdata import stored_records
from medselect.store import (
    Workspace,
    case_set_members,
    get_case_set,
    get_cases,
    get_task,
    list_reviews,
    task_family,
)

__all__ = ["REVIEWED_CASES_ADDED", "ReviewedCase", "check_reviewed_unseen", "reviewed_cases",
           "training_records"]

REVIEWED_CASES_ADDED = "reviewed_cases_added"
"""Audit action: reviewed new cases entered an upgrade's training split."""
OWN_LABEL = "own label"


@dataclass(frozen=True)
class ReviewedCase:
    """One case of a set of new cases, and whether it can join training.

    Attributes:
        label_source: ``own label`` or ``accepted prediction of <model>``; None when left out.
        reason: why it is left out (None when it joins).
        verdicts: the current verdicts on it, ``(reviewer, model, verdict)``.
        record: the training record (split ``train``), None when left out.
    """

    case_set: str
    case_id: str
    patient_id: str
    site: str
    label_source: str | None
    reason: str | None
    verdicts: tuple[tuple[str, str, str], ...]
    record: CaseRecord | None

    def to_dict(self) -> dict[str, Any]:
        return {"case_set": self.case_set, "case_id": self.case_id,
                "patient_id": self.patient_id, "site": self.site,
                "label_source": self.label_source, "reason": self.reason,
                "verdicts": [list(v) for v in self.verdicts], "joins": self.record is not None}


def reviewed_cases(ws: Workspace, task: str, case_set: str) -> list[ReviewedCase]:
    """Every case of the set of new cases ``case_set``: its label for training, or why not.

    Raises:
        NotFound: no such case set.
        ConfigError: the set is not a set of new cases of ``task`` (the task's own splits and
            reference set are never added to training this way).
    """
    with ws.connect() as conn:
        row = get_case_set(conn, case_set)
        if row["task"] != task or row["kind"] != "new":
            raise ConfigError(
                f"case set {case_set!r} is a {row['kind']!r} set of task {row['task']!r}, not "
                f"new cases of task {task!r}; `reviewed=` takes a set of new cases (`medselect "
                "evaluate --cases PATH` or a dashboard upload), never the task's own splits")
        members = case_set_members(conn, case_set)
        task_row = get_task(conn, task)
        current: dict[tuple[str, str, str], tuple[str, int]] = {}
        for r in list_reviews(conn, case_set=case_set):
            current[r["case_id"], r["model_ref"], r["reviewer"]] = (r["verdict"], r["id"])
        files = prediction_files(conn, case_set)
    out = []
    for case, record in zip(members, stored_records(ws, members), strict=True):
        verdicts = sorted(((reviewer, model, verdict), newest) for (c, model, reviewer),
                          (verdict, newest) in current.items() if c == case["case_id"])
        source, label = _label(ws, task_family(task_row), task_row["config"], record,
                               verdicts, files)
        reason = None if source else _left_out(verdicts)
        out.append(ReviewedCase(
            case_set=case_set, case_id=case["case_id"], patient_id=record.patient_id,
            site=record.site, label_source=source, reason=reason,
            verdicts=tuple(v for v, _ in verdicts),
            record=None if label is None else replace(label, split="train", attributes={
                **label.attributes, "reviewed_from": case_set, "label_source": source})))
    return out


def training_records(cases: Sequence[ReviewedCase]) -> list[CaseRecord]:
    """The records of the cases that join training."""
    return [c.record for c in cases if c.record is not None]


def check_reviewed_unseen(ws: Workspace, task: str, cases: Sequence[ReviewedCase]) -> None:
    """Refuse reviewed cases whose patient is in a test, validation or reference set.

    Raises:
        LeakageError: naming every such case, its patient and the set it is in.
    """
    with ws.connect() as conn:
        version = latest_training_version(conn, task)
        held_out: dict[str, str] = {}
        if version is not None:
            held_out = {c["patient_id"]: f"the {c['split']} split of {version['id']}"
                        for c in get_cases(conn, version["id"]) if c["split"] != "train"}
            if version["reference_case_set"]:
                held_out |= {c["patient_id"]: f"the reference set {version['reference_case_set']}"
                             for c in case_set_members(conn, version["reference_case_set"])}
    clashes = [f"{c.case_id} (patient {c.patient_id!r}, in {held_out[c.patient_id]})"
               for c in cases if c.record is not None and c.patient_id in held_out]
    if clashes:
        raise LeakageError(
            f"reviewed cases {', '.join(clashes)}: their patients are held out to select or "
            "confirm models, and a reviewed case only ever joins the training split; leave "
            "these cases out (review another set) or give them their own patients if the ids "
            "were wrong")


def _label(ws: Workspace, family: str, config: Mapping[str, Any], record: CaseRecord,
           verdicts: Sequence[tuple[tuple[str, str, str], int]],
           files: Mapping[tuple[str, str], str]) -> tuple[str | None, CaseRecord | None]:
    """``(label source, record with that label)``, or ``(None, None)`` without one."""
    own = {TaskKind.CLASSIFICATION: record.target is not None,
           TaskKind.LANDMARKS: record.landmarks is not None}.get(family, record.label is not None)
    if own:
        return OWN_LABEL, record
    by_model: dict[str, list[tuple[str, int]]] = {}
    for (_, model, verdict), newest in verdicts:
        by_model.setdefault(model, []).append((verdict, newest))
    accepted = [(max(n for _, n in v), m) for m, v in by_model.items()
                if all(verdict == "acceptable" for verdict, _ in v)
                and (m, record.case_id) in files]
    if not accepted:
        return None, None
    model = max(accepted)[1]
    path = str(ws.path(files[model, record.case_id]))
    source = f"accepted prediction of {model}"
    if family == TaskKind.CLASSIFICATION:
        probabilities = json.loads(ws.path(files[model, record.case_id]).read_text())
        classes = list(config.get("classes") or probabilities)
        return source, replace(record, target=classes.index(max(probabilities,
                                                                key=probabilities.get)))
    if family == TaskKind.LANDMARKS:
        return source, replace(record, landmarks=path)
    return source, replace(record, label=path)


def _left_out(verdicts: Sequence[tuple[tuple[str, str, str], int]]) -> str:
    if not verdicts:
        return ("not reviewed and no label: review a prediction in the dashboard, or upload "
                "its corrected label with the case")
    return ("no prediction was judged acceptable by every reviewer of it, and the case has no "
            "label: upload a corrected label with the case (`medselect evaluate --cases PATH "
            "--labels DIR`) and add that set")
