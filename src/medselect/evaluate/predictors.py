"""The one contract every evaluated model meets: a trained run or predictions made elsewhere.

The engine asks a predictor for the label maps of a few loaded cases at a time; a case the
model cannot answer comes back as a :class:`CaseFailure` (missing or error, with a message
naming the case), never as an exception, so the other cases and models go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from medselect.data.loading import LoadedCase

Outcome = Literal["missing", "error"]


@dataclass(frozen=True)
class CaseFailure:
    """Why a model has no usable prediction for a case.

    Args:
        status: ``missing`` (no prediction exists) or ``error`` (it exists but is unusable, or
            the model could not make it).
        message: names the case (and file or run) and what to do.
    """

    status: Outcome
    message: str


@dataclass(frozen=True)
class Explained:
    """An image-level prediction with the saliency map that shows where the network looked.

    Args:
        prediction: the ``(classes,)`` class probabilities.
        saliency: a map of the case's spatial shape in [0, 1], drawn on the case's overlay.
    """

    prediction: np.ndarray
    saliency: np.ndarray


Prediction = np.ndarray | Explained | CaseFailure
"""A label map of the case's spatial shape (0 background, class i as i + 1), points of a
landmarks model, class probabilities (:class:`Explained` when overlays are drawn), or a
failure."""


class Predictor(Protocol):
    """A model as the engine sees it.

    Attributes:
        model_ref: the run id, or ``external:<name>``.
        fingerprint: what else identifies its predictions ("" for a run, whose id already
            does); part of the evaluation id.
    """

    model_ref: str
    fingerprint: str

    def load(self) -> None:
        """Get ready to predict (read weights); called only if the model is evaluated.

        Raises:
            EvaluationError: the model cannot be used at all (names the run and file).
        """

    def predict(self, cases: Sequence[LoadedCase], shared: dict) -> list[Prediction]:
        """One prediction per case, in order.

        Args:
            shared: a scratch dict the engine empties with each new batch of cases, where
                predictors keep what other models can reuse (preprocessed inputs).
        """

    def close(self) -> None:
        """Release what :meth:`load` took (weights, GPU memory)."""
