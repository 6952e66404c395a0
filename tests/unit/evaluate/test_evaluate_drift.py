"""Input drift and model disagreement: hand-checkable inputs, then a real workspace of new cases.

A shifted-intensity set must show drift and an identical one must not; the cases the top models
disagree on must lead the review queue.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from medselect.data.image import Image
from medselect.data.importer import case_set_records, import_case_set
from medselect.evaluate.agreement import (
    class_disagreement,
    landmark_spread,
    segmentation_disagreement,
)
from medselect.evaluate.drift import feature_drift, image_features
from medselect.evaluate.newcases import input_drift, output_signals, review_queue, top_models
from newcase_data import DISAGREE, MODELS, OFFSET, TASK, build_new_case_workspace


def _frame(values, site="a", prefix="p"):
    return pd.DataFrame({"patient_id": [f"{prefix}{i}" for i in range(len(values))],
                         "site": site, "fg_mean": values, "spacing_x": 1.0})


def test_image_features_by_hand():
    array = np.zeros((4, 4), np.float32)
    array[:, 2:] = 10.0  # half background, half foreground at 10
    f = image_features([Image(array, (0.5, 2.0))])
    assert f["fg_mean"] == 10.0 and f["fg_std"] == 0.0
    assert f["intensity_p50"] == 5.0 and f["intensity_p1"] == 0.0 and f["intensity_p99"] == 10.0
    assert (f["spacing_x"], f["spacing_y"], f["size_x"], f["size_y"]) == (0.5, 2.0, 4.0, 4.0)
    two = image_features([Image(array, (1.0, 1.0)), Image(array * 2, (1.0, 1.0))])
    assert two["c1_fg_mean"] == 20.0


def test_identical_set_shows_no_drift():
    train = _frame(np.linspace(0, 1, 20))
    table = feature_drift(train, train.assign(site="a"))
    assert not table["drift"].any()
    assert (table["std_diff"] == 0).all() and (table["ks"] == 0).all()
    assert (table["p_value"] == 1).all()


def test_shifted_set_drifts_with_its_effect_size():
    train = _frame(np.linspace(0, 1, 20))
    shifted = _frame(np.linspace(0, 1, 20) + 2.0, prefix="q")
    table = feature_drift(train, shifted).set_index(["site", "feature"])
    row = table.loc[("a", "fg_mean")]
    assert row["drift"] and row["ks"] == 1.0 and row["outside"] == 1.0
    assert row["std_diff"] == pytest.approx(2.0 / np.std(np.linspace(0, 1, 20), ddof=1))
    assert not table.loc[("a", "spacing_x"), "drift"]


def test_a_single_training_spacing_makes_any_other_spacing_drift():
    train = _frame(np.ones(5))
    other = _frame(np.ones(2), prefix="q").assign(spacing_x=0.5)
    row = feature_drift(train, other).set_index(["site", "feature"]).loc[("a", "spacing_x")]
    assert row["drift"] and row["std_diff"] == -math.inf and row["outside"] == 1.0


def test_patients_are_the_unit():
    """Two cases of one patient are one piece of evidence: averaged before comparing."""
    train = _frame([0.0, 1.0])
    new = pd.DataFrame({"patient_id": ["x", "x"], "site": "a", "fg_mean": [4.0, 6.0],
                        "spacing_x": 1.0})
    row = feature_drift(train, new).set_index(["site", "feature"]).loc[("a", "fg_mean")]
    assert row["n_new"] == 1 and row["new_mean"] == 5.0


def test_feature_drift_refuses_a_table_without_patients():
    with pytest.raises(ValueError, match="patient_id"):
        feature_drift(pd.DataFrame({"fg_mean": [1.0]}), _frame([1.0]))


def test_each_site_is_compared_with_its_own_training_cases():
    """Site b always had another spacing: it is not drift there, but pooled it would be."""
    train = pd.concat([_frame(np.ones(5)), _frame(np.ones(5), site="b").assign(spacing_x=0.5)])
    new = pd.concat([_frame(np.ones(3), site="b", prefix="q").assign(spacing_x=0.5),
                     _frame(np.ones(2), site="c", prefix="r")])
    table = feature_drift(train, new).set_index(["site", "feature"])
    assert table.loc[("b", "spacing_x"), "against"] == "b"
    assert not table.loc[("b", "spacing_x"), "drift"]
    assert table.loc[("c", "spacing_x"), "against"] == "(all)"


def test_disagreement_by_hand():
    a = np.zeros((4, 4), int)
    a[:2] = 1
    b = np.zeros((4, 4), int)
    b[:1] = 1
    assert segmentation_disagreement([a, a], (1.0, 1.0), [1]) == 0.0
    assert segmentation_disagreement([a, b], (1.0, 1.0), [1]) == pytest.approx(1 - 2 * 4 / 12)
    empty = np.zeros((4, 4), int)
    assert segmentation_disagreement([empty, empty], (1.0, 1.0), [1, 2]) == 0.0
    with pytest.raises(ValueError, match="at least two"):
        segmentation_disagreement([a], (1.0, 1.0), [1])
    assert class_disagreement([[1.0, 0.0], [1.0, 0.0]]) == (0.0, True)
    entropy, agree = class_disagreement([[1.0, 0.0], [0.0, 1.0]])
    assert entropy == pytest.approx(1.0) and not agree
    spread = landmark_spread([{"a": [0, 0]}, {"a": [3, 4]}, {"a": [0, 0]}], (1.0, 2.0))
    assert spread == pytest.approx((np.hypot(3, 8) * 2 + 0) / 3)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory, tiny_phantom):
    ws, case_set = build_new_case_workspace(tmp_path_factory.mktemp("drift") / "ws",
                                            tiny_phantom)
    yield ws, case_set
    ws.dispose()


def test_shifted_new_cases_drift_in_intensity_not_geometry(shifted):
    ws, case_set = shifted
    drift = input_drift(ws, "knee", case_set)
    table = drift.table.set_index(["site", "feature"])
    sites = sorted(set(drift.table["site"]) - {"(all)"})
    assert len(sites) >= 2
    for site in [*sites, "(all)"]:
        assert table.loc[(site, "intensity_p50"), "new_mean"] > OFFSET
        assert table.loc[(site, "fg_mean"), "drift"]
        assert not table.loc[(site, "spacing_x"), "drift"]
        assert not table.loc[(site, "size_x"), "drift"]
    assert "fg_mean" in drift.drifting["(all)"]
    assert drift.to_dict()["features"]


def test_cases_identical_to_training_do_not_drift(shifted):
    """The training images themselves as a new set (allowed for external models): no drift."""
    ws, _ = shifted
    records = [r for r in case_set_records(ws, _train_set(ws)) if r.split == "train"]
    same = import_case_set(ws, TASK, records, "same", allow_training_cases=True)["id"]
    drift = input_drift(ws, "knee", same)
    assert not drift.table["drift"].any(), drift.table[drift.table["drift"]]


def _train_set(ws) -> str:
    from medselect.data.casesets import add_training_data_set

    with ws.begin() as conn:
        return add_training_data_set(conn, "knee", "all")["id"]


def test_review_queue_puts_disagreement_first(shifted):
    ws, case_set = shifted
    with ws.connect() as conn:
        top = top_models(conn, "knee", case_set)
    assert set(top.models) == set(MODELS)
    queue = review_queue(ws, "knee", case_set)
    scores = [e.score for e in queue.entries]
    assert all(s is not None and s > 0.1 for s in scores[:DISAGREE])
    assert all(s == 0.0 for s in scores[DISAGREE:])
    assert sorted(e.case_id for e in queue.entries[:DISAGREE]) == sorted(
        e.case_id for e in queue.entries)[:DISAGREE]
    assert queue.measure.startswith("1 - mean pairwise Dice")
    assert not queue.entries[0].labelled and queue.entries[0].reviewed == 0


def test_output_signals_compare_volumes_with_the_test_split(shifted):
    ws, case_set = shifted
    signals = output_signals(ws, "knee", case_set)
    table = signals.table.set_index(["model", "site", "signal"])
    exact = table.loc[(MODELS[0], "(all)", "volume:femur")]
    assert exact["new_mean"] == pytest.approx(exact["ref_mean"])  # the same label maps
    assert exact["std_diff"] == pytest.approx(0.0) and not exact["drift"]
    rough = table.loc[(MODELS[1], "(all)", "volume:tibia")]
    assert rough["new_mean"] < rough["ref_mean"]  # two cases lost their tibia
    assert signals.test_case_set.endswith("-test")


def test_classification_queue_orders_by_the_models_disagreement(tmp_path):
    """Two sample classification models on three new cases: both sure of one class (0), split
    (1 - entropy 1 for two classes), one unsure (between)."""
    import json

    from medselect.store import (
        add_case_set,
        add_dataset_version,
        get_task,
        put_evaluation,
        replace_predictions,
    )
    from medselect.testing.sample import build_sample_workspace

    ws = build_sample_workspace(tmp_path / "ws", kind="classification")
    task = "knee-thinning"
    with ws.connect() as conn:
        classes = get_task(conn, task)["config"]["classes"]
    assert len(classes) == 2
    probabilities = {"sure": ([1.0, 0.0], [1.0, 0.0]), "split": ([1.0, 0.0], [0.0, 1.0]),
                     "unsure": ([0.9, 0.1], [0.6, 0.4])}
    with ws.begin() as conn:
        add_dataset_version(conn, {"id": "dv-new", "task": task, "source": {"kind": "new-cases"}},
                            [{"case_id": c, "patient_id": c, "site": "lyon", "split": "test",
                              "image_uris": [f"images/{c}.png"], "content_hash": c}
                             for c in probabilities])
        add_case_set(conn, {"id": "dv-new-new", "name": "lyon", "task": task,
                            "dataset_version": "dv-new", "kind": "new"}, list(probabilities))
        for i, model in enumerate(("run-000", "run-001")):
            put_evaluation(conn, {"id": f"ev-{i}", "model_ref": model, "case_set": "dv-new-new",
                                  "dataset_version": "dv-new", "status": "finished"})
            rows = []
            for case, pair in probabilities.items():
                uri = f"evaluations/ev-{i}/{case}.json"
                ws.path(uri).parent.mkdir(parents=True, exist_ok=True)
                ws.path(uri).write_text(json.dumps(dict(zip(classes, pair[i], strict=True))))
                rows.append({"case_id": case, "status": "ok", "prediction_uri": uri})
            replace_predictions(conn, f"ev-{i}", rows)
    queue = review_queue(ws, task, "dv-new-new")
    ws.dispose()
    assert [e.case_id for e in queue.entries] == ["split", "unsure", "sure"]
    assert [e.agree for e in queue.entries] == [False, True, True]
    assert queue.entries[0].score == pytest.approx(1.0) and queue.entries[-1].score == 0.0
    assert queue.measure.startswith("normalised entropy")
