import numpy as np
import pandas as pd
import pytest

from medselect.rank import Direction, RankingError, score_matrix
from medselect.rank.table import direction_of


def test_pivot_sorts_models_and_cases(table_of):
    table = table_of({"b": [0.5, 0.6], "a": [0.7, 0.8]})
    m = score_matrix(table, "dice", "higher")
    assert m.models == ("a", "b")
    assert m.cases == ("c000", "c001")
    np.testing.assert_array_equal(m.values, [[0.7, 0.5], [0.8, 0.6]])
    assert m.n_imputed.tolist() == [0, 0]
    assert m.direction is Direction.HIGHER


def test_missing_and_nan_are_imputed_as_worst_observed(table_of):
    table = table_of({"a": [0.9, np.nan, 0.7], "b": [0.6, 0.8, 0.5]})
    table = table.drop(table.index[2])  # a has no row at all for c002
    m = score_matrix(table, "dice", "higher")
    assert m.worst == 0.5  # the lowest Dice seen
    np.testing.assert_array_equal(m.values[:, 0], [0.9, 0.5, 0.5])
    assert m.n_imputed.tolist() == [2, 0]
    lower = score_matrix(table_of({"a": [3.0, np.nan], "b": [1.0, 7.0]}, "hd95"), "hd95", "lower")
    assert lower.values[1, 0] == 7.0  # the largest distance seen


def test_explicit_worst_value(table_of):
    m = score_matrix(table_of({"a": [0.9, np.nan]}), "dice", "higher", worst=0.0)
    assert m.values[1, 0] == 0.0 and m.worst == 0.0


def test_model_without_rows_for_the_metric_is_all_imputed(table_of):
    table = pd.concat([table_of({"a": [0.9, 0.8]}), table_of({"b": [2.0, 3.0]}, "hd95")])
    m = score_matrix(table, "dice", "higher")
    assert m.models == ("a", "b")
    assert m.n_imputed.tolist() == [0, 2]


def test_unknown_metric_names_what_exists(table_of):
    with pytest.raises(RankingError, match=r"'dcie'.*did you mean 'dice'.*dice"):
        score_matrix(table_of({"a": [0.9]}), "dcie", "higher")


def test_unknown_label_lists_labels_of_the_metric(table_of):
    table = pd.concat([table_of({"a": [0.9]}), table_of({"a": [0.8]}, label="femur")])
    with pytest.raises(RankingError, match=r"label 'tibia'.*femur, mean"):
        score_matrix(table, "dice", "higher", label="tibia")


def test_table_problems_are_ranking_errors(table_of):
    with pytest.raises(RankingError, match=r"lacks column\(s\) \['value'\]"):
        score_matrix(table_of({"a": [0.9]}).drop(columns="value"), "dice", "higher")
    twice = pd.concat([table_of({"a": [0.9]})] * 2)
    with pytest.raises(RankingError, match=r"model 'a' on case 'c000'"):
        score_matrix(twice, "dice", "higher")
    with pytest.raises(RankingError, match="every 'dice' value"):
        score_matrix(table_of({"a": [np.nan]}), "dice", "higher")
    with pytest.raises(RankingError, match="choose one of: higher, lower"):
        score_matrix(table_of({"a": [0.9]}), "dice", "up")


def test_direction_of_uses_call_then_mapping_then_catalogue():
    assert direction_of("dice", "LOWER", None) is Direction.LOWER
    assert direction_of("hd95", None, {"hd95": "lower"}) is Direction.LOWER
    assert direction_of("nsd", None, {"hd95": "lower"}) is Direction.HIGHER  # the catalogue's
    with pytest.raises(RankingError, match=r"no direction for metric 'sharp'.*\['hd95'\]"):
        direction_of("sharp", None, {"hd95": "lower"})


def test_subset_only_and_attributes(table_of):
    table = table_of({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}, sites=["X", "Y", "X"])
    m = score_matrix(table, "dice", "higher")
    x = m.subset(m.attributes["site"].to_numpy() == "X")
    assert x.cases == ("c000", "c002")
    np.testing.assert_array_equal(x.values, [[1.0, 4.0], [3.0, 6.0]])
    assert m.only(["b"]).values[:, 0].tolist() == [4.0, 5.0, 6.0]
    assert m.strata("site").tolist() == [0, 1, 0]
    assert m.strata("scanner") is None
    assert not m.values.flags.writeable
    with pytest.raises(RankingError, match="'z'"):
        m.only(["z"])
