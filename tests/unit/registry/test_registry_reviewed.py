"""Reviewed new cases as training data: which cases join and with which label, and that a
reviewed case only ever enters the training split, never a test, validation or reference set.

Data: :mod:`newcase_data` (the tiny phantom as the task's data, its test cases copied as new
unlabelled cases of new patients, two external models evaluated on them). No training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from medselect.config import Experiment
from medselect.data.importer import import_case_set
from medselect.data.readers import read_image
from medselect.data.sources import read_source
from medselect.errors import ConfigError, DataError, LeakageError
from medselect.registry import import_new_cases
from medselect.registry.reviewed import (
    check_reviewed_unseen,
    reviewed_cases,
    training_records,
)
from medselect.store import (
    add_review,
    case_set_members,
    get_case_set,
    get_cases,
    get_dataset_version,
)
from newcase_data import MODELS, TASK, build_new_case_workspace


@pytest.fixture
def workspace(tmp_path, tiny_phantom):
    ws, case_set = build_new_case_workspace(tmp_path / "ws", tiny_phantom)
    yield ws, case_set
    ws.dispose()


@pytest.fixture
def experiment():
    return Experiment.model_validate({"task": TASK.model_dump(mode="json"),
                                      "data": {"source": {"kind": "phantom"}}})


def _review(ws, case_set, case_id, model, verdict, reviewer="dr. ann"):
    with ws.begin() as conn:
        add_review(conn, model_ref=model, case_set=case_set, case_id=case_id,
                   reviewer=reviewer, verdict=verdict)


def _cases(ws, case_set):
    with ws.connect() as conn:
        return [c["case_id"] for c in case_set_members(conn, case_set)]


def test_an_accepted_prediction_becomes_the_label(workspace):
    ws, case_set = workspace
    accepted, rejected, split_vote, untouched = _cases(ws, case_set)[:4]
    _review(ws, case_set, accepted, MODELS[1], "not_acceptable")
    _review(ws, case_set, accepted, MODELS[0], "acceptable")
    _review(ws, case_set, rejected, MODELS[0], "not_acceptable")
    _review(ws, case_set, split_vote, MODELS[0], "acceptable")
    _review(ws, case_set, split_vote, MODELS[0], "not_acceptable", reviewer="dr. bo")
    cases = {c.case_id: c for c in reviewed_cases(ws, "knee", case_set)}
    joined = cases[accepted]
    assert joined.label_source == f"accepted prediction of {MODELS[0]}"
    assert joined.record.split == "train" and joined.record.site == joined.site
    assert joined.record.patient_id == joined.patient_id == f"new-{accepted[4:].rsplit('-v', 1)[0]}"
    assert joined.record.attributes["reviewed_from"] == case_set
    assert np.array_equal(read_image(joined.record.label, kind="label").array,
                          read_image(_prediction(ws, case_set, accepted), kind="label").array)
    for left_out in (rejected, split_vote, untouched):
        assert cases[left_out].record is None and cases[left_out].reason
    assert "not reviewed" in cases[untouched].reason
    assert [r.case_id for r in training_records(list(cases.values()))] == [accepted]


def _prediction(ws, case_set, case_id):
    from medselect.store import get_predictions, latest_evaluations

    with ws.connect() as conn:
        evaluation = latest_evaluations(conn, case_set)[MODELS[0]]["id"]
        uri = next(p["prediction_uri"] for p in get_predictions(conn, evaluation)
                   if p["case_id"] == case_id)
    return ws.path(uri)


def test_a_reviewed_case_joins_training_and_never_a_test_or_reference_set(workspace,
                                                                          experiment):
    ws, case_set = workspace
    case_id = _cases(ws, case_set)[0]
    _review(ws, case_set, case_id, MODELS[0], "acceptable")
    cases = reviewed_cases(ws, "knee", case_set)
    check_reviewed_unseen(ws, "knee", cases)
    data = import_new_cases(ws, experiment, None, reviewed=training_records(cases))
    assert data.new_cases == (case_id,) and data.new_test_cases == ()
    with ws.connect() as conn:
        split = {c["case_id"]: c["split"] for c in get_cases(conn, data.version_id)}
        version = get_dataset_version(conn, data.version_id)
        held_out = {m["case_id"] for s in (data.imported.test_case_set,
                                           data.imported.reference_case_set,
                                           data.imported.val_case_set) if s
                    for m in case_set_members(conn, s)}
        reference = get_case_set(conn, data.imported.reference_case_set)
    assert split[case_id] == "train" and case_id not in held_out
    assert reference["dataset_version"] == data.parent_id  # the frozen set is the old one
    assert version["source"]["reviewed_cases"] == [case_id]


def test_a_reviewed_case_of_a_held_out_patient_is_refused(workspace, experiment, tiny_phantom):
    """New cases may hold a test patient (runs never trained on it); such a case may be
    evaluated, but a review never moves it into training."""
    ws, _ = workspace
    with ws.connect() as conn:
        test = [c for c in get_cases(conn, _version(ws)) if c["split"] == "test"]
    source = next(r for r in read_source(tiny_phantom / "manifest.csv").records
                  if r.case_id == test[0]["case_id"])
    record = replace(source, case_id="rescan", patient_id=test[0]["patient_id"],
                     images=(str(_shifted_copy(ws, source.images[0])),), label=None,
                     landmarks=None, target=None, split="test")
    rescan = import_case_set(ws, TASK, [record], "rescan")["id"]
    _review(ws, rescan, "rescan", MODELS[0], "acceptable")  # not evaluated: no prediction
    cases = reviewed_cases(ws, "knee", rescan)
    assert cases[0].record is None  # no accepted prediction file to learn from
    labelled = replace(record, label=source.label)
    own = import_case_set(ws, TASK, [labelled], "rescan-labelled")["id"]
    cases = reviewed_cases(ws, "knee", own)
    assert cases[0].label_source == "own label"
    with pytest.raises(LeakageError, match=r"rescan .*held out"):
        check_reviewed_unseen(ws, "knee", cases)
    with pytest.raises(DataError, match="fixed to different splits"):  # the import's own check
        import_new_cases(ws, experiment, None, reviewed=training_records(cases))


def test_only_sets_of_new_cases_are_taken(workspace):
    ws, _ = workspace
    with pytest.raises(ConfigError, match="never the task's own splits"):
        reviewed_cases(ws, "knee", f"{_version(ws)}-test")


def _version(ws):
    from medselect.data import latest_training_version

    with ws.connect() as conn:
        return latest_training_version(conn, "knee")["id"]


def _shifted_copy(ws, path):
    from medselect.data.writers import write_image

    image = read_image(path)
    target = ws.root.parent / "rescan.nii.gz"
    write_image(replace(image, array=image.array + 0.01), target)
    return target
