"""A fresh workspace per test, and tiny dataset versions to fill it with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from medselect.store import Workspace, add_dataset_version, put_task

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def case_row(case_id: str, split: str = "train", **extra: Any) -> dict[str, Any]:
    """A minimal valid case row; the content hash is derived from the id."""
    return {
        "case_id": case_id,
        "patient_id": f"p-{case_id}",
        "split": split,
        "image_uris": [f"images/{case_id}_0000.nii.gz"],
        "label_uri": f"labels/{case_id}.nii.gz",
        "content_hash": f"h-{case_id}",
        **extra,
    }


@pytest.fixture
def ws(tmp_path) -> Iterator[Workspace]:
    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.dispose()


@pytest.fixture
def make_case() -> Callable[..., dict[str, Any]]:
    return case_row


@pytest.fixture
def add_version(ws) -> Callable[..., str]:
    """Add a version of task "knee": ``add_version("v1", train=["a"], test=["b"], hours=0)``."""

    def add(version_id: str, hours: int = 0, parent_id: str | None = None,
            **splits: list[str]) -> str:
        rows = [case_row(c, split) for split, ids in splits.items() for c in ids]
        with ws.begin() as conn:
            put_task(conn, "knee", "segmentation", {"labels": ["femur", "tibia"]})
            add_dataset_version(conn, {
                "id": version_id,
                "task": "knee",
                "parent_id": parent_id,
                "created_at": T0 + timedelta(hours=hours),
                "source": {"kind": "synth-knee", "n": len(rows)},
            }, rows)
        return version_id

    return add
