"""How much several models disagree on one case: the order of the "review first" queue.

When the ranking cannot tell the top models apart, none of them is known to be right on a new
case, but where they disagree at least one is wrong: those cases are worth an expert's eye
first. One score per task family, 0 when the models agree and larger the more they disagree:

- segmentation: ``1 - mean pairwise Dice`` (Dice per foreground class, averaged over the
  classes either prediction of the pair holds; two empty predictions agree);
- classification: the normalised entropy of the models' mean class probabilities (0: every
  model sure of the same class; 1: a uniform mean), with ``agree`` saying whether every model
  predicts the same class;
- landmarks: the mean pairwise distance between the models' points, in mm, averaged over
  landmarks.

What the score does not show: that models who agree are right (they may share a mistake, above
all models trained on the same data), nor how wrong a disagreeing model is.

Example::

    >>> import numpy as np
    >>> a = np.zeros((4, 4), int); a[:2] = 1
    >>> b = np.zeros((4, 4), int); b[:1] = 1
    >>> round(segmentation_disagreement([a, b], (1.0, 1.0), [1]), 3)
    0.333
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from medselect.metrics.overlap import OverlapCounts, dice

__all__ = ["class_disagreement", "landmark_spread", "segmentation_disagreement"]


def segmentation_disagreement(masks: Sequence[np.ndarray], spacing: Sequence[float],
                              classes: Sequence[int]) -> float:
    """``1 - mean pairwise Dice`` of label maps over the foreground ``classes``.

    Raises:
        ValueError: fewer than two label maps.
        DataError: two label maps differ in shape.
    """
    _pairs_needed(len(masks), "label maps")
    scores = []
    for a, b in combinations(masks, 2):
        per_class = [dice(OverlapCounts.from_masks(a == c, b == c, spacing)) for c in classes
                     if np.any(a == c) or np.any(b == c)]
        scores.append(float(np.mean(per_class)) if per_class else 1.0)
    return 1.0 - float(np.mean(scores))


def class_disagreement(probabilities: Sequence[Sequence[float]]) -> tuple[float, bool]:
    """``(normalised entropy of the mean probabilities, whether every model's class agrees)``.

    Raises:
        ValueError: fewer than two models, fewer than two classes, or vectors of unequal length.
    """
    _pairs_needed(len(probabilities), "probability vectors")
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be one vector of at least two classes per model, "
                         f"got shape {p.shape}")
    mean = p.mean(axis=0)
    mean = mean / mean.sum() if mean.sum() > 0 else np.full_like(mean, 1 / len(mean))
    nonzero = mean[mean > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / np.log(len(mean)))
    return max(entropy, 0.0), bool(len(set(p.argmax(axis=1).tolist())) == 1)


def landmark_spread(points: Sequence[Mapping[str, Sequence[float]]],
                    spacing: Sequence[float]) -> float:
    """Mean pairwise distance in mm between models' points (voxel coordinates), averaged over
    the landmarks every model placed; NaN when they share none.

    Raises:
        ValueError: fewer than two models.
    """
    _pairs_needed(len(points), "sets of landmarks")
    shared = set.intersection(*(set(p) for p in points))
    scale = np.asarray(spacing, dtype=np.float64)
    distances = [float(np.linalg.norm((np.asarray(a[name]) - np.asarray(b[name])) * scale))
                 for name in sorted(shared) for a, b in combinations(points, 2)]
    return float(np.mean(distances)) if distances else float("nan")


def _pairs_needed(n: int, what: str) -> None:
    if n < 2:
        raise ValueError(f"disagreement needs at least two models' {what}, got {n}")
