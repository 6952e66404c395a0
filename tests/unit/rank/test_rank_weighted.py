"""Weighted order statistics: read from the nearer end, the values are those of the repeated
sample, bit for bit."""

import numpy as np
import pytest

from medselect.rank.weighted import weighted_percentile


def repeated_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Each copy's cases repeated and sorted, interpolated with the formula the bootstrap has
    always used (``low + (position - low) * (high - low)``)."""
    out = np.empty((len(weights), values.shape[1]))
    for r, w in enumerate(weights.astype(np.intp)):
        sample = np.sort(np.repeat(values, w, axis=0), axis=0, kind="stable")
        position = (len(sample) - 1) * (q / 100)
        low = np.floor(position)
        high = min(low + 1, len(sample) - 1)
        v_low, v_high = sample[int(low)], sample[int(high)]
        out[r] = v_low + (position - low) * (v_high - v_low)
    return out


@pytest.mark.parametrize("q", [0, 1, 10, 37.5, 50, 62.5, 90, 99, 100])
def test_weighted_percentile_is_bit_identical_to_the_repeated_sample(q):
    rng = np.random.default_rng(3)
    values = rng.normal(size=(60, 7)).round(1)  # rounded: ties between cases
    weights = rng.multinomial(60, np.full(60, 1 / 60), size=40).astype(float)
    np.testing.assert_array_equal(weighted_percentile(values, weights, q),
                                  repeated_percentile(values, weights, q))


@pytest.mark.parametrize("q", [10, 90])
def test_weighted_percentile_widens_a_head_too_short_for_heavy_weights(q):
    """All the weight on the cases at the far end: the first head of sorted cases holds
    none of it, so it must widen (to all cases) and still give the repeated sample's value."""
    rng = np.random.default_rng(4)
    values = rng.normal(size=(200, 3))
    far = np.argsort(values[:, 0])[:20] if q > 50 else np.argsort(values[:, 0])[-20:]
    weights = np.zeros((5, 200))
    weights[:, far] = 10.0
    weights[:, rng.integers(0, 200, size=5)] += 1
    np.testing.assert_array_equal(weighted_percentile(values, weights, q),
                                  repeated_percentile(values, weights, q))
