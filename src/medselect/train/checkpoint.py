"""Checkpoints that hold tensors and plain numbers only, written atomically.

A checkpoint is a dict: ``model`` (state dict), ``optimizer``, ``scheduler`` and ``scaler``
states (or None), ``epoch``, ``best_metric``, ``best_epoch`` and ``fingerprint`` (which
configuration wrote it). It is loaded with ``torch.load(..., weights_only=True)``, so a file
cannot run code when read, and written to a temporary name then renamed, so a killed process
leaves either the previous checkpoint or the new one, never half a file. A state saved under
two names (``best.pt`` and ``last.pt`` of an improving epoch) is serialised once and hard-linked,
which halves the cost of an epoch's checkpoints for large models.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from medselect.errors import TrainingError
from medselect.store import atomic_path

REQUIRED_KEYS = ("model", "epoch", "best_metric", "best_epoch", "fingerprint")


def save_checkpoint(
    path: Path, state: Mapping[str, Any], *, copies: Sequence[Path] = ()
) -> None:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, then rename).

    Args:
        copies: further paths that get the same file, each replaced atomically too, before
            ``path`` is (a hard link where the file system allows one, else a copy).
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            torch.save(dict(state), handle)
        for copy in copies:
            _place(tmp, Path(copy))


def _place(source: Path, target: Path) -> None:
    """Make ``target`` the file ``source`` is, atomically."""
    with atomic_path(target) as tmp:
        tmp.unlink()  # a link needs a free name
        try:
            os.link(source, tmp)
        except OSError:  # no hard links here (another device, FAT, some network shares)
            shutil.copyfile(source, tmp)


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
