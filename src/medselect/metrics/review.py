"""Expert acceptance: the reviewers' verdicts on predictions as a metric ranking can use.

A reviewer marks one model's prediction of one case acceptable or not (the dashboard's case
page; :mod:`medselect.store.reviews`). Per case the per-case table then holds ``accepted``,
the share of the current verdicts on that prediction that are acceptable (1 or 0 with one
reviewer), and nothing where nobody reviewed it. ``acceptance`` is computed over a set of
cases like an AUC (:data:`SET_METRICS`): the mean of ``accepted`` over the cases that were
reviewed, each model over its own reviewed cases; ranking gives it the Wilson score interval
over the patients whose predictions were reviewed (a bootstrap interval would be the point
[1, 1] once every reviewed prediction is accepted). A model nobody reviewed has no acceptance
(NaN).

Example::

    >>> rate = SET_METRICS["acceptance"].reduce
    >>> rate(None, np.array([[1.0], [0.0], [np.nan]]), np.ones((1, 3)))
    array([[0.5]])
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from medselect.metrics.spec import Direction, Family, MetricSpec, SetMetric, Unit

ACCEPTED = MetricSpec(
    "accepted", Family.REVIEW, Direction.HIGHER, Unit.NONE,
    "Per case, the share of the expert verdicts on the model's prediction that find it "
    "acceptable (each reviewer's newest verdict counts; 1 or 0 with one reviewer); no value "
    "where nobody reviewed the prediction.")
ACCEPTANCE = MetricSpec(
    "acceptance", Family.REVIEW, Direction.HIGHER, Unit.NONE,
    "Expert acceptance rate: the mean over the reviewed cases of the share of verdicts that "
    "find the prediction acceptable, each model over the cases its predictions were reviewed "
    "on (a case reviewed by several experts counts once); undefined for a model nobody "
    "reviewed.", per_case=False)

SPECS: tuple[MetricSpec, ...] = (ACCEPTED, ACCEPTANCE)


def acceptance_rate(truth: None, accepted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of ``accepted`` (n_cases, n_models) over each model's reviewed (non-NaN)
    cases, for every row of ``weights`` (n_copies, n_cases); NaN without a reviewed case."""
    reviewed = ~np.isnan(accepted)
    numerator = weights @ np.where(reviewed, accepted, 0.0)
    count = weights @ reviewed
    return np.divide(numerator, count, out=np.full(numerator.shape, np.nan), where=count > 0)


SET_METRICS: Mapping[str, SetMetric] = MappingProxyType({
    ACCEPTANCE.name: SetMetric(
        ACCEPTANCE, ACCEPTED.name, acceptance_rate, one_vs_rest=False, truth=None,
        missing=float("nan"), proportion=True,
        absent="no prediction of these cases was reviewed yet; experts mark predictions "
               "acceptable or not on the dashboard's case pages (medselect serve)"),
})
"""``acceptance``, computed from the per-case ``accepted`` rows of the reviewed cases."""
