"""A hand-built workspace for the choice tests: task "knee" with 4 sites, patients with two
slices each, val and test case sets, four finished runs whose per-case Dice is written out."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from medselect.config import RankingSpec, TaskSpec
from medselect.store import (
    Workspace,
    add_case_set,
    add_dataset_version,
    put_evaluation,
    put_task,
    replace_case_metrics,
    set_reference_case_set,
    set_run_status,
    upsert_run,
)

SITES = ("a", "b")
RUNS = ("r-good", "r-twin", "r-fair", "r-poor")
PARAMETERS = {"r-good": 900, "r-twin": 100, "r-fair": 500, "r-poor": 50}


def cases(split: str, n_patients: int) -> list[dict]:
    """``n_patients`` per site, two slices each, ids ``<split>-<site>-p<N>-s<k>``."""
    return [{"case_id": f"{split}-{site}-p{p}-s{s}", "patient_id": f"{split}-{site}-p{p}",
             "site": site, "split": split, "image_uris": [f"i/{split}{site}{p}{s}.nii.gz"],
             "label_uri": f"l/{split}{site}{p}{s}.nii.gz", "content_hash": f"{split}{site}{p}{s}"}
            for site in SITES for p in range(n_patients) for s in range(2)]


@pytest.fixture
def knee(tmp_path) -> Iterator[tuple[Workspace, Callable]]:
    """The workspace and ``evaluate(case_set, {run: offset})``: stores each run's Dice on a
    case set as a shared patient effect + the run's offset + small noise."""
    ws = Workspace.create(tmp_path / "ws")
    rows = cases("train", 4) + cases("val", 12) + cases("test", 12)
    with ws.begin() as conn:
        task = TaskSpec(name="knee", kind="segmentation", spatial_dims=2,
                        classes=["background", "femur"])
        put_task(conn, "knee", "segmentation", task.model_dump(mode="json"),
                 ranking=RankingSpec(metric="dice", by=["site"],
                                     tie_break=["fewer_parameters"]).model_dump(mode="json"))
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, rows)
        for split in ("val", "test"):
            members = [r["case_id"] for r in rows if r["split"] == split]
            add_case_set(conn, {"id": f"v1-{split}", "name": split, "task": "knee",
                                "dataset_version": "v1", "kind": split}, members)
        add_case_set(conn, {"id": "ref", "name": "reference", "task": "knee",
                            "dataset_version": "v1", "kind": "reference", "frozen": True},
                     [r["case_id"] for r in rows if r["split"] == "test"])
        set_reference_case_set(conn, "v1", "ref")
        for run in RUNS:
            upsert_run(conn, {"id": run, "task": "knee", "dataset_version": "v1",
                              "config": {"architecture": "unet"}, "config_hash": run,
                              "n_parameters": PARAMETERS[run]})
            set_run_status(conn, run, "running")
            set_run_status(conn, run, "finished")

    def evaluate(case_set: str, offsets: dict[str, float], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        members = [r for r in rows if f"v1-{r['split']}" == case_set]
        patient = {r["patient_id"]: rng.normal(0.8, 0.05) for r in members}
        with ws.begin() as conn:
            for run, offset in offsets.items():
                eid = f"e-{run}-{case_set}"
                put_evaluation(conn, {"id": eid, "model_ref": run, "case_set": case_set,
                                      "dataset_version": "v1", "status": "finished"})
                replace_case_metrics(conn, eid, [
                    {"case_id": r["case_id"], "metric": "dice", "label": "mean",
                     "value": patient[r["patient_id"]] + offset + rng.normal(0, 0.004)}
                    for r in members])

    yield ws, evaluate
    ws.dispose()
