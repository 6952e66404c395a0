"""Checkpoints that hold tensors and plain numbers only, written atomically.

A checkpoint is a dict: ``model`` (state dict), ``optimizer``, ``scheduler`` and ``scaler``
states (or None), ``epoch``, ``best_metric``, ``best_epoch`` and ``fingerprint`` (which
configuration wrote it). It is loaded with ``torch.load(..., weights_only=True)``, so a file
cannot run code when read, and written to a temporary name then renamed, so a killed process
leaves either the previous checkpoint or the new one, never half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from medselect.errors import TrainingError

REQUIRED_KEYS = ("model", "epoch", "best_metric", "best_epoch", "fingerprint")


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(dict(state), handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(
    path: Path, *, map_location: str | torch.device = "cpu", fingerprint: str | None = None
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        fingerprint: when given, the checkpoint must have been written by this configuration.

    Raises:
        TrainingError: the file is missing, unreadable, not a checkpoint, or was written for
            another configuration (the message names the file).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for a damaged file
        raise TrainingError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
            "delete it to train the run from the start"
        ) from exc
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise TrainingError(
            f"checkpoint {path} is not a medselect checkpoint (missing {', '.join(missing)})"
        )
    if fingerprint is not None and state["fingerprint"] != fingerprint:
        raise TrainingError(
            f"checkpoint {path} was written by another run configuration; "
            "delete it or train into another folder"
        )
    return state
