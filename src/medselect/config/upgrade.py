"""The experiment file's ``upgrade:`` section: how ``medselect upgrade`` retrains on new data.

The retrained models then face the promotion gate like any other candidate. Example::

    upgrade:
      retrain: top_k
      top_k: 3
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["UpgradeSpec"]


class UpgradeSpec(BaseModel):
    """How ``medselect upgrade`` retrains when new data arrives."""

    model_config = ConfigDict(extra="forbid")

    retrain: Literal["top_k", "sweep"] = Field(
        "top_k", description="top_k: retrain the k best configurations; sweep: the whole sweep"
    )
    top_k: int = Field(3, ge=1)
