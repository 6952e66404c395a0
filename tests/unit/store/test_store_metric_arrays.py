"""The per-case table read from the metric arrays is the table the ``case_metric`` rows give:
every value at its model, case, metric and label, on SQLite and PostgreSQL, and never stale
after a re-evaluation or a newer evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from medselect.errors import StoreError
from medselect.store import (
    Workspace,
    case_metric_table,
    case_metric_values,
    latest_evaluations,
    put_evaluation,
    replace_case_metrics,
)
from medselect.store.evaluations import case_attributes, with_case_attributes
from medselect.store.schema import case_metric, case_metric_array
from medselect.testing.sample import (
    CASE_SET,
    VAL_CASE_SET,
    VERSION,
    build_sample_workspace,
    case_name,
)


def row_table(conn: sa.Connection, case_set: str) -> pd.DataFrame:
    """The per-case table built from the ``case_metric`` rows alone (as before the arrays)."""
    evaluations = latest_evaluations(conn, case_set)
    model_of = {row["id"]: ref for ref, row in evaluations.items()}
    stmt = sa.select(case_metric).where(case_metric.c.evaluation.in_(list(model_of)))
    rows = pd.DataFrame([row._mapping for row in conn.execute(stmt)])
    rows["model"] = rows.pop("evaluation").map(model_of)
    rows["value"] = rows["value"].astype(float)
    return with_case_attributes(rows, case_attributes(conn, case_set))


@pytest.fixture
def sample(tmp_path) -> Workspace:
    """5 models x 14 test cases (and 6 validation cases) over three sites; run-004 misses the
    last case (NaN); ``ev-odd``, run-000's newest evaluation, stores its values out of order,
    HD95 for some cases only (some undefined) and a case that is not a test set member."""
    ws = build_sample_workspace(tmp_path / "ws", n_models=5, n_cases=14, n_val_cases=6,
                                sites=("north", "south", "east"))
    rng = np.random.default_rng(1)
    cases = [case_name(i) for i in rng.permutation(14)]
    rows = [{"case_id": c, "metric": "dice", "label": "mean", "value": float(rng.random())}
            for c in cases]
    rows += [{"case_id": c, "metric": "hd95", "label": "mean", "value": None} for c in cases[:3]]
    rows += [{"case_id": c, "metric": "hd95", "label": "mean", "value": 2.0 + i}
             for i, c in enumerate(cases[3:9])]
    rows.append({"case_id": "val-0014", "metric": "dice", "label": "mean", "value": 0.5})
    with ws.begin() as conn:
        put_evaluation(conn, {"id": "ev-odd", "model_ref": "run-000", "case_set": CASE_SET,
                              "dataset_version": VERSION, "status": "finished"})
        replace_case_metrics(conn, "ev-odd", rows)
    yield ws
    ws.dispose()


def test_the_arrays_give_the_rows_table(sample):
    with sample.connect() as conn:
        expected = row_table(conn, CASE_SET)
        table = case_metric_table(conn, case_set=CASE_SET)
        val = case_metric_table(conn, case_set=VAL_CASE_SET)
        expected_val = row_table(conn, VAL_CASE_SET)
    assert len(table) == 4 * 14 * 6 + 14 + 9  # run-000: its newest evaluation only
    assert table["value"].isna().sum() == 6 + 3  # run-004's last case, ev-odd's undefined HD95
    pd.testing.assert_frame_equal(table, expected)
    pd.testing.assert_frame_equal(val, expected_val)


@pytest.mark.parametrize("restrict", [
    {"metrics": ["hd95"]}, {"labels": ["mean"]}, {"metrics": ["dice"], "labels": ["tibia"]},
    {"model_refs": ["run-000", "run-004"]}, {"case_ids": [case_name(3), case_name(13), "nope"]},
])
def test_a_restricted_table_is_that_part_of_the_rows_table(sample, restrict):
    with sample.connect() as conn:
        expected = row_table(conn, CASE_SET)
        table = case_metric_table(conn, case_set=CASE_SET, **restrict)
    keep = np.ones(len(expected), dtype=bool)
    for column, name in (("model", "model_refs"), ("metric", "metrics"), ("label", "labels"),
                         ("case_id", "case_ids")):
        if name in restrict:
            keep &= expected[column].isin(restrict[name]).to_numpy()
    assert 0 < len(table) < len(expected)
    pd.testing.assert_frame_equal(table, expected[keep].reset_index(drop=True))


def test_a_reevaluation_and_a_newer_evaluation_are_read_at_once(sample):
    with sample.connect() as conn:
        before = case_metric_table(conn, case_set=CASE_SET, model_refs=["run-001"],
                                   metrics=["dice"], labels=["mean"])
    with sample.begin() as conn:  # run-001 evaluated again under the same id: new values
        replace_case_metrics(conn, "ev-run-001", [
            {"case_id": case_name(i), "metric": "dice", "label": "mean", "value": i / 100}
            for i in range(14)])
    with sample.connect() as conn:
        again = case_metric_table(conn, case_set=CASE_SET, model_refs=["run-001"])
    assert len(before) == 14 and again["value"].tolist() == [i / 100 for i in range(14)]
    assert set(again["metric"]) == {"dice"}  # the old HD95 values went with the old rows
    with sample.begin() as conn:  # a newer evaluation of run-001 on the test set
        put_evaluation(conn, {"id": "ev-new", "model_ref": "run-001", "case_set": CASE_SET,
                              "dataset_version": VERSION, "status": "finished"})
        replace_case_metrics(conn, "ev-new", [
            {"case_id": case_name(0), "metric": "dice", "label": "mean", "value": 0.25}])
    with sample.connect() as conn:
        newest = case_metric_table(conn, case_set=CASE_SET, model_refs=["run-001"])
        assert newest.equals(row_table(conn, CASE_SET).query("model == 'run-001'")
                             .reset_index(drop=True))
    assert newest["value"].tolist() == [0.25]


def test_a_damaged_array_is_refused_with_its_evaluation(sample):
    with sample.begin() as conn:
        conn.execute(case_metric_array.update()
                     .where(case_metric_array.c.evaluation == "ev-run-002",
                            case_metric_array.c.metric == "dice")
                     .values(case_values=np.zeros(3).tobytes()))
    with pytest.raises(StoreError, match="dice values of evaluation 'ev-run-002' at label "
                                         "'femur' are 3 for 14 cases"), sample.connect() as conn:
        case_metric_table(conn, case_set=CASE_SET)


@pytest.mark.parametrize("restrict", [
    {}, {"metrics": ["hd95"], "labels": ["mean"]}, {"model_refs": ["run-000", "run-004"]},
    {"case_ids": [case_name(3), case_name(13), "val-0014"]},
])
def test_matrices_read_straight_from_the_arrays_are_the_pivoted_tables(sample, restrict):
    """Every (metric, label) matrix placed from the arrays equals the long table's pivot:
    the same cases in the same order, NaN-imputed cells, models, and the cases' patients and
    sites on the same rows; ev-odd's values are stored out of order, so a case misplaced in
    the array would show here."""
    from medselect.choose import RankingInputs
    from medselect.rank import score_matrix

    with sample.connect() as conn:
        table = case_metric_table(conn, case_set=CASE_SET, **restrict)
        values = case_metric_values(conn, case_set=CASE_SET, **restrict)
    pd.testing.assert_frame_equal(values.table(), table)
    inputs = RankingInputs.read(values, CASE_SET)
    assert not inputs.empty and inputs.models() == set(table["model"])
    assert inputs.sites() == set(table["site"])
    pairs = table[["metric", "label"]].drop_duplicates().itertuples(index=False)
    for metric, label in pairs:
        old = score_matrix(table, metric, inputs.directions[metric], label=label)
        new = inputs.matrix(metric, label)
        assert (new.metric, new.label, new.models, new.cases) == (
            old.metric, old.label, old.models, old.cases)
        np.testing.assert_array_equal(new.values, old.values)
        np.testing.assert_array_equal(new.imputed, old.imputed)
        assert new.worst == old.worst
        pd.testing.assert_frame_equal(new.attributes, old.attributes)
        assert new.clusters().n_patients == old.clusters().n_patients


def test_a_metric_not_read_falls_back_to_the_tables_error(sample):
    from medselect.choose import RankingInputs
    from medselect.errors import RankingError

    with sample.connect() as conn:
        values = case_metric_values(conn, case_set=CASE_SET, metrics=["dice"])
    with pytest.raises(RankingError, match="metric 'hd95' is not in the per-case table"):
        RankingInputs.read(values, CASE_SET).matrix("hd95", "mean")
