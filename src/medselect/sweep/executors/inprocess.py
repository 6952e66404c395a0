"""Train jobs one after another in this process: the test double, and a debugging aid."""

from __future__ import annotations

from collections.abc import Iterable

from medselect.sweep.executors.base import Poll
from medselect.sweep.jobs import RunJob, RunOutcome
from medselect.sweep.worker import execute_run


class InProcessExecutor:
    """No isolation: a crash takes the caller down. Use for tests and ``--workers 0``."""

    name = "inprocess"

    def run(self, jobs: Iterable[RunJob], *, poll: Poll | None = None) -> list[RunOutcome]:
        outcomes = []
        for job in jobs:
            outcomes.append(execute_run(job))
            if poll:
                poll()
        return outcomes
