"""Which model comes first: the experiment's ranking applied to the reference set.

An upgrade picks the configurations to retrain (the current top k) and, per scope, the one
candidate that faces the gate by this order. Only one candidate per scope is gated, chosen
before the gate looks at it, so training k candidates does not give k chances to pass the
gate by luck.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from medselect.config import RankingSpec
from medselect.errors import RankingError, RegistryError
from medselect.metrics import SET_METRICS, directions
from medselect.rank import preference_from_spec, rank_preference, statistics_from_spec
from medselect.registry.gate import SITE_COLUMN
from medselect.store import case_metric_table, list_runs

__all__ = ["rank_models", "ranked_order"]


def ranked_order(
    table: pd.DataFrame,
    spec: RankingSpec,
    *,
    model_info: pd.DataFrame | None = None,
) -> list[str]:
    """The models of a per-case table, best first, as the ranking section ranks them.

    The ranking's choice (which a tie-break may have made) comes first, then the others in
    rank order; models a constraint excludes are left out.

    Raises:
        RankingError: the table lacks a metric the ranking reads, or every model is excluded.
    """
    models = sorted(set(table["model"]))
    if len(models) <= 1:
        return models
    ranking = rank_preference(table, preference_from_spec(spec), directions(table["metric"]),
                              statistics=statistics_from_spec(spec), model_info=model_info,
                              set_metrics=SET_METRICS)
    board = ranking.leaderboard
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
    table = case_metric_table(conn, case_set=case_set, model_refs=refs)
    if site is not None:
        table = table[table[SITE_COLUMN] == site]
    runs = {r["id"]: r for r in list_runs(conn, task=task)}
    rows = [{"model": ref, "parameters": runs[ref]["n_parameters"]} for ref in refs if ref in runs]
    info = pd.DataFrame(rows).set_index("model") if rows else None
    try:
        return ranked_order(table, spec, model_info=info)
    except RankingError as exc:
        where = f" (site {site!r})" if site else ""
        raise RegistryError(f"cannot rank {refs} on case set {case_set!r}{where}: {exc}") from None
