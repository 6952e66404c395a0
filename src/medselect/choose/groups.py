"""The best model per subgroup (site, scanner, ...), chosen on the selection set and confirmed
on the other: the table ``medselect rank --by site`` prints and the dashboard's sites page
shows, built once here so both say the same.

Each row pairs a subgroup's :class:`~medselect.rank.selection.Choice` (model, runner-up, margin
with its interval, the runner-up's standing, patients) with the chosen model's figure on that
subgroup's confirmation cases, and says in words when the evidence is too thin to tell: fewer
than :data:`~medselect.rank.selection.MIN_GROUP_PATIENTS` patients, a runner-up the data cannot
separate from the choice (unresolved), or no model at all. (An interval on few patients is
flagged by the choice's own ``ci_reliable``; a win shown significant there still stands.)

Example::

    choice = choose_model(conn, "knee", spec)          # spec.by == ["site"]
    table = group_table(choice, "site")
    table.verdict, [(r.choice.group, r.choice.model, r.thin) for r in table.rows]
"""

from __future__ import annotations

from dataclasses import dataclass

from medselect.choose.choice import Confirmation, ModelChoice
from medselect.errors import RankingError
from medselect.rank import Choice, Selection, Standing
from medselect.rank.selection import MIN_GROUP_PATIENTS

__all__ = ["GroupRow", "GroupTable", "group_table"]


@dataclass(frozen=True)
class GroupRow:
    """One subgroup (or all cases): its choice and that model's confirmed figure.

    Attributes:
        confirmation: the chosen model's figure on the subgroup's confirmation cases; None
            when no model was chosen there.
        thin: why the evidence is too thin to trust the choice, in words; None when it is not.
    """

    choice: Choice
    confirmation: Confirmation | None
    thin: str | None

    @property
    def group(self) -> str:
        return self.choice.group


@dataclass(frozen=True)
class GroupTable:
    """Subgroup -> model for one ``by`` attribute, and what it amounts to.

    Attributes:
        rows: one per subgroup, in the selection's order.
        overall: the choice on all cases.
        same_model: the model chosen in every subgroup, when one is (None otherwise).
        verdict: in plain words: one model best everywhere, or the choices differ (and
            whether that is shown), then the subgroups where the evidence is too thin.
    """

    attribute: str
    selection: Selection
    rows: tuple[GroupRow, ...]
    overall: GroupRow
    same_model: str | None
    verdict: str

    @property
    def thin(self) -> tuple[str, ...]:
        """The subgroups whose choice the data cannot back."""
        return tuple(r.group for r in self.rows if r.thin)

    def own_models(self, alpha: float) -> tuple[Choice, ...]:
        """The subgroups whose chosen model is not the overall choice and beats it there
        significantly: the paired test on the subgroup's selection patients at ``alpha``
        divided by the number of subgroups (Bonferroni: every subgroup is asked). These are
        the candidates for a champion of their own."""
        level = alpha / max(len(self.rows), 1)
        return tuple(r.choice for r in self.rows
                     if r.choice.model not in (None, self.overall.choice.model)
                     and r.choice.p_vs_overall is not None and r.choice.p_vs_overall < level
                     and (r.choice.gain_over_overall or 0.0) > 0)


def group_table(choice: ModelChoice, attribute: str) -> GroupTable:
    """The per-``attribute`` table of a choice made with ``attribute`` in ``spec.by``.

    Raises:
        RankingError: the choice was not made by ``attribute`` (the message names its ``by``).
    """
    try:
        selection = choice.report.selections[attribute]
    except KeyError:
        made = ", ".join(choice.report.selections) or "nothing"
        raise RankingError(f"the choice was not made per {attribute} (it was made per "
                           f"{made}); rank with by: [{attribute}]") from None
    confirmed = {c.group: c for c in choice.groups.get(attribute, ())}
    rows = tuple(GroupRow(c, confirmed.get(c.group), _thin(c)) for c in selection.choices)
    overall_choice = selection.overall
    overall = GroupRow(overall_choice,
                       choice.confirmations[0] if choice.confirmations else None,
                       _thin(overall_choice))
    models = {r.choice.model for r in rows}
    same = next(iter(models)) if len(models) == 1 and None not in models else None
    return GroupTable(attribute=attribute, selection=selection, rows=rows, overall=overall,
                      same_model=same, verdict=_verdict(attribute, selection, rows))


def _thin(c: Choice) -> str | None:
    """Why a subgroup's choice rests on too little, or None."""
    if c.model is None:
        return f"no model could be chosen: {c.reason}"
    reasons = []
    if c.n_patients < MIN_GROUP_PATIENTS:
        reasons.append(f"only {_count(c.n_patients, 'patient')}")
    if c.runner_up_standing == Standing.UNRESOLVED:
        reasons.append(f"{c.runner_up} cannot be told apart from it (neither shown worse "
                       "nor shown equivalent)")
    return "; ".join(reasons) or None


def _verdict(attribute: str, selection: Selection, rows: tuple[GroupRow, ...]) -> str:
    """The selection's summary, then where the evidence is too thin to tell."""
    thin = [r for r in rows if r.thin]
    text = selection.summary
    if thin and len(thin) == len(rows):
        return f"{text}; but at no {attribute} is the evidence enough to tell"
    if thin:
        named = ", ".join(r.group for r in thin)
        return f"{text}; the evidence is too thin to tell at {attribute} {named}"
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
