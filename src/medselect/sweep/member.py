"""A population member inside its Ray Tune trial (strategy ``pbt``).

Tune calls :func:`train_member` with the trial's configuration: the member's job and its
mutated values now. The member trains as any run does (:func:`~medselect.sweep.worker.execute_run`:
its row, curve and checkpoints in the workspace), reports each epoch's metric to Tune, and at
every perturbation interval offers Tune a checkpoint. That checkpoint is only a pointer
(``member.json``: run id and epoch) to the snapshot the run keeps in its own folder of the
workspace, so members on any Ray node sharing the workspace exchange weights through it and
Tune's storage holds no copy. When Tune's scheduler restarts the trial from another member's
checkpoint (an exploit), the member continues from that snapshot with Tune's perturbed values
and records the event with its run (``details.population_exploits``), so its whole schedule
can be read back.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medselect.store import Workspace, get_run, serialize, upsert_run
from medselect.sweep.jobs import EXPLOITS, MemberRef, RunJob
from medselect.sweep.worker import execute_run
from medselect.train.online import Continuation, snapshot_path

if TYPE_CHECKING:
    from medselect.train.records import EpochRecord

JOB, MEMBER = "job", "member"
"""Keys of a trial's configuration beside the mutated values: the member's job and index."""
POINTER = "member.json"


def train_member(config: dict[str, Any]) -> None:
    """Tune's function trainable: train the member of ``config[JOB]`` from where Tune says."""
    from ray import tune

    job: RunJob = config[JOB]
    assert job.member is not None  # population.py builds member jobs only
    source = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            pointer = json.loads((Path(folder) / POINTER).read_text())
        source = (str(pointer["run"]), int(pointer["epoch"]))
    values = tuple((name, float(config[name])) for name, _ in job.member.values)
    execute_run(replace(job, member=replace(job.member, values=values, source=source)))


class MemberReport:
    """The worker's side of a member's trial; use it as a context manager."""

    def __init__(self, ws: Workspace, run_id: str, ref: MemberRef) -> None:
        self.ws = ws
        self.run_id = run_id
        self.ref = ref
        start = None
        if ref.source is not None:
            donor, epoch = ref.source
            start = snapshot_path(ws.path(f"runs/{donor}"), epoch)
        self.continuation = Continuation(ref.snapshot_every, dict(ref.values), start)

    def __enter__(self) -> MemberReport:
        if self.ref.source is not None and self.ref.source[0] != self.run_id:
            self._record_exploit(*self.ref.source)
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def should_stop(self, record: EpochRecord) -> bool:
        """Report the epoch to Tune, with a checkpoint at a perturbation epoch, but the last;
        never stops the run (Tune's scheduler pauses or restarts the trial itself)."""
        from ray import tune

        if record.epoch >= self.ref.epochs:
            return False
        metrics = {"epoch": record.epoch, self.ref.metric: record.metrics()[self.ref.metric]}
        if record.epoch % self.ref.snapshot_every:
            tune.report(metrics)
            return False
        with tempfile.TemporaryDirectory(prefix="medselect-member-") as folder:
            (Path(folder) / POINTER).write_text(json.dumps({"run": self.run_id,
                                                            "epoch": record.epoch}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        return False

    def settle(self, run_id: str) -> None:
        """Nothing to tell: Tune learns the end when the trainable returns."""

    def _record_exploit(self, donor: str, epoch: int) -> None:
        """Add the exploit to the run's details: epoch, donor and its snapshot, the values the
        member trained with before and those it trains with now."""
        from medselect.train.checkpoint import load_checkpoint

        own = snapshot_path(self.ws.path(f"runs/{self.run_id}"), epoch)
        before = load_checkpoint(own).get("values", {}) if own.exists() else {}
        event = {"epoch": epoch, "donor": donor, "donor_epoch": epoch,
                 "donor_checkpoint": self.ws.relative(self.continuation.start),
                 "from": {k: float(v) for k, v in before.items()},
                 "to": dict(self.ref.values)}
        with self.ws.begin() as conn:
            serialize(conn, f"run:{self.run_id}")
            details = get_run(conn, self.run_id)["details"] or {}
            events = [e for e in details.get(EXPLOITS, []) if e["epoch"] != epoch]
            upsert_run(conn, {"id": self.run_id,
                              "details": details | {EXPLOITS: [*events, event]}})
