"""Deterministic evaluation ids: the same model on the same cases with the same policy is one
evaluation, so evaluating again finds it instead of computing it twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from medselect.evaluate.policy import MetricPolicy


def evaluation_id(
    model_ref: str,
    case_set: Mapping[str, Any],
    policy: MetricPolicy,
    model_fingerprint: str = "",
) -> str:
    """``ev-`` + 16 hex digits over the model, the case set and its content, and the policy.

    Args:
        model_ref: a run id or ``external:<name>``.
        case_set: the ``case_set`` row (its ``id`` and ``content_hash`` are used, so a case set
            whose cases changed under the same id cannot be mistaken for the old one).
        policy: metrics, classes, tolerances and inference settings.
        model_fingerprint: what else identifies the model's predictions (for an external model,
            the digest of its prediction files, so new files are evaluated anew).

    Example::

        >>> evaluation_id("run-1a2b3c4d5e6f", case_set_row, policy)
        'ev-5c0d1e9a7b3f2a61'
    """
    identity = {
        "model_ref": model_ref,
        "model_fingerprint": model_fingerprint,
        "case_set": case_set["id"],
        "content_hash": case_set["content_hash"],
        "policy": policy.as_dict(),
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return "ev-" + hashlib.sha256(text.encode()).hexdigest()[:16]
