import numpy as np
import pytest

from medselect.rank import rank_stability


def test_dominant_model_is_always_best():
    samples = np.array([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0], [3.0, 2.0, 1.0], [3.0, 1.0, 2.0]])
    st = rank_stability(samples, ("a", "b", "c"))
    np.testing.assert_allclose(st.p_best, [1.0, 0.0, 0.0])
    # b is 2nd twice and 3rd twice; counts rows are models, columns ranks 1..3
    np.testing.assert_array_equal(st.rank_counts, [[4, 0, 0], [0, 2, 2], [0, 2, 2]])
    assert st.median_rank.tolist() == [1.0, 2.5, 2.5]
    assert st.to_frame().loc["a", "p_best"] == 1.0


def test_ties_share_the_best_and_probabilities_add_up():
    samples = np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]])
    st = rank_stability(samples, ("a", "b", "c"))
    np.testing.assert_allclose(st.p_best, [0.75, 0.25, 0.0])
    assert st.p_best.sum() == pytest.approx(1.0)
    assert st.rank_counts[1].tolist() == [1, 1, 0]  # tied first once, second once


def test_nan_aggregate_ranks_last():
    st = rank_stability(np.array([[np.nan, 0.5]]), ("a", "b"))
    assert st.p_best.tolist() == [0.0, 1.0]
    assert st.to_dict()["models"][0]["rank_counts"] == [0, 1]
