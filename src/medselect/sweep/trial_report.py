"""A worker's side of an Optuna trial: each epoch's value reported to it, the pruner asked
whether to stop, and the run's ending told to the study.

The training loop only sees :meth:`TrialReport.should_stop` (no Optuna in ``medselect.train``).
The ending is told after the run's row is written, from that row, so a worker that dies in
between leaves a trial the next ``sweep run`` settles from the same row.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from medselect.config.search import PARAMETERS
from medselect.errors import TrainingError
from medselect.store import Workspace, get_run
from medselect.sweep.jobs import TrialRef
from medselect.sweep.study import open_study, study_storage, tell_ending

if TYPE_CHECKING:
    from medselect.train.records import EpochRecord


class TrialReport:
    """The trial ``ref`` of a run this worker trains; use it as a context manager."""

    def __init__(self, ws: Workspace, ref: TrialRef) -> None:
        self.ws = ws
        self.ref = ref
        self._stack = ExitStack()

    def __enter__(self) -> TrialReport:
        storage = self._stack.enter_context(study_storage(self.ws))
        self.study = open_study(storage, self.ref.study)
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        frozen = next((t for t in running if t.number == self.ref.number), None)
        if frozen is None:
            raise TrainingError(f"trial {self.ref.number} of study {self.ref.study.name!r} has "
                                "already ended (another process told it); run `medselect "
                                "sweep run` again to ask for a new trial")
        self.trial = optuna.trial.Trial(self.study, frozen._trial_id)  # Optuna keys trials by id
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def should_stop(self, record: EpochRecord) -> bool:
        """Report the epoch's value of the (single) objective; whether the pruner stops the run.
        A multi-objective study, or one optimising ``parameters``, has nothing to report."""
        objectives = self.ref.study.objectives
        if len(objectives) > 1 or objectives[0].metric == PARAMETERS:
            return False
        self.trial.report(record.metrics()[objectives[0].metric], record.epoch)
        return self.trial.should_prune()

    def settle(self, run_id: str) -> None:
        """Tell the trial how the run ended; a failure to tell is left to the next sweep."""
        try:
            with self.ws.connect() as conn:
                tell_ending(self.study, self.ref.number, conn, get_run(conn, run_id),
                            self.ref.study)
        except Exception as exc:  # the run is recorded; `sweep run` settles the trial later
            print(f"warning: run {run_id}: could not tell trial {self.ref.number} of study "
                  f"{self.ref.study.name!r} ({type(exc).__name__}: {exc}); the next `medselect "
                  "sweep run` tells it", file=sys.stderr)
