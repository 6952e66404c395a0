"""Which model comes first: the experiment's ranking applied to one case set.

An upgrade orders its candidates per scope on the new dataset version's selection set (the
validation split), and only the first faces the gate on the reference set: chosen before the
gate looks at the reference set, so training k candidates does not give k chances to pass the
gate by luck (:mod:`medselect.registry.candidates`). Ranking on the reference set itself is the
fallback, and the gate then divides its level by the number of candidates. The retrain step
orders the current generation's runs by it too, to pick the configurations to retrain.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from medselect.choose import RankingInputs, ranking_inputs
from medselect.config import RankingSpec
from medselect.errors import RankingError, RegistryError

__all__ = ["rank_models", "ranked_order"]


def ranked_order(inputs: RankingInputs, spec: RankingSpec) -> list[str]:
    """The models of ``inputs``, best first, as the ranking section ranks them (with the
    same margins, set metrics and per-model attributes as ``medselect rank``).

    The ranking's choice (which a tie-break may have made) comes first, then the others in
    rank order; models a constraint excludes are left out.

    Raises:
        RankingError: the table lacks a metric the ranking reads, or every model is excluded.
    """
    models = sorted(set(inputs.table["model"]))
    if len(models) <= 1:
        return models
    board = inputs.ranking(spec).leaderboard
    return list(dict.fromkeys([board.best, *(row.model for row in board.rows)]))


def rank_models(
    conn: sa.Connection,
    task: str,
    case_set: str,
    model_refs: Sequence[str],
    spec: RankingSpec,
    *,
    site: str | None = None,
) -> list[str]:
    """:func:`ranked_order` of ``model_refs`` on ``case_set`` (one site's cases when given).

    Raises:
        RegistryError: the ranking cannot be made (the message says why).
    """
    refs = list(dict.fromkeys(model_refs))
    if len(refs) <= 1:
        return refs
    inputs = ranking_inputs(conn, task, case_set, models=refs, site=site, spec=spec)
    try:
        return ranked_order(inputs, spec)
    except RankingError as exc:
        where = f" (site {site!r})" if site else ""
        raise RegistryError(f"cannot rank {refs} on case set {case_set!r}{where}: {exc}") from None
