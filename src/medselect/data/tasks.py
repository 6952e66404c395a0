"""A task's stored ranking rules, read back as the config object every reader ranks with.

Importing an experiment's data stores its ``ranking:`` section with the task
(:func:`medselect.data.importer.import_experiment_data`), so the CLI, the dashboard and the
registry rank by the same rules, including which case set selects and which confirms.
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import ValidationError

from medselect.config import RankingSpec
from medselect.errors import ConfigError
from medselect.store import get_task


def stored_ranking(conn: sa.Connection, task: str) -> RankingSpec | None:
    """The ranking section stored with ``task``, or None when none was stored (a task imported
    without an experiment file).

    Raises:
        NotFound: no such task.
        ConfigError: the stored section is no longer a valid ranking section (written by
            another medselect); import the experiment's data again to replace it.
    """
    stored = get_task(conn, task)["ranking"]
    if stored is None:
        return None
    try:
        return RankingSpec.model_validate(stored)
    except ValidationError as exc:
        error = exc.errors()[0]
        at = ".".join(str(p) for p in error["loc"]) or "ranking"
        raise ConfigError(f"task {task!r}: its stored ranking section is not valid at "
                          f"ranking.{at} ({error['msg']}); import the experiment's data again "
                          f"(`medselect sweep run EXPERIMENT.yaml`) to replace it") from exc
