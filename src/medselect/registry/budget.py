"""The reference set's error budget: how much of alpha each look at it may spend.

A frozen reference set that judges every upgrade is looked at again and again; each gate on it
is a new chance for a candidate of equal quality to pass by luck, and over many upgrades the
choices adapt to its noise. So the protocol fixes, before the first look, how the scope's
overall false-promotion rate ``alpha`` is split across its looks (alpha spending; the errors of
all looks then add up to at most ``alpha``):

- ``geometric``: look j runs at ``alpha / 2^j`` (0.025, 0.0125, ... for alpha 0.05); never runs
  out, but every look is stricter than the one before;
- ``bonferroni``: each of ``max_looks`` looks runs at ``alpha / max_looks``; then the budget is
  spent and the gate refuses until the reference set is refreshed with new patients;
- ``none``: every look runs at ``alpha`` (the error rate then grows with the number of looks;
  for comparison only).

A candidate picked as the best of K models on the reference set itself has had K chances, so
its look runs at the look's level divided by K (Bonferroni). An adaptive alternative, the
Ladder of Blum & Hardt (2015), is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from medselect.metrics.display import number_text

__all__ = ["AlphaSpending", "Budget", "Look", "budget_after", "look_alpha"]

ADVISE_REFRESH_AT = 0.75
"""Share of alpha spent from which a refresh of the reference set is advised."""


class AlphaSpending(StrEnum):
    """How alpha is split across the looks at one reference set."""

    GEOMETRIC = "geometric"
    BONFERRONI = "bonferroni"
    NONE = "none"


@dataclass(frozen=True)
class Budget:
    """The budget after ``looks`` earlier looks, and the level of the next one.

    Attributes:
        looks: gates already run on this reference set in this scope (each compared a
            candidate with at least one earlier version).
        spent: alpha spent by those looks.
        next_alpha: the one-sided level of the next look (0 when the budget is exhausted).
    """

    alpha: float
    rule: AlphaSpending
    max_looks: int
    looks: int
    spent: float
    next_alpha: float

    @property
    def exhausted(self) -> bool:
        return self.next_alpha <= 0

    @property
    def advice(self) -> str | None:
        """What to do about the budget, or None while plenty is left."""
        if self.exhausted:
            return (f"the reference set's error budget is spent ({self.looks} looks, "
                    f"{self.rule.value} spending): refresh it with never-seen test patients "
                    "(medselect upgrade --new-reference) before gating again")
        if self.rule != AlphaSpending.NONE and self.spent >= ADVISE_REFRESH_AT * self.alpha:
            return (f"{self.spent / self.alpha:.0%} of the reference set's alpha is spent; "
                    f"the next look runs at {number_text(self.next_alpha)}. Consider refreshing it "
                    "with never-seen test patients (medselect upgrade --new-reference)")
        return None

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "rule": self.rule.value, "max_looks": self.max_looks,
                "looks": self.looks, "spent": self.spent, "next_alpha": self.next_alpha,
                "exhausted": self.exhausted, "advice": self.advice}


def look_alpha(alpha: float, rule: AlphaSpending | str, look: int, max_looks: int) -> float:
    """The level of look number ``look`` (1 = the first)."""
    rule = AlphaSpending(rule)
    if rule == AlphaSpending.GEOMETRIC:
        return alpha / 2**look
    if rule == AlphaSpending.BONFERRONI:
        return alpha / max_looks if look <= max_looks else 0.0
    return alpha


def budget_after(looks: int, alpha: float, rule: AlphaSpending | str,
                 max_looks: int = 10) -> Budget:
    """The budget of a scope whose reference set has had ``looks`` looks."""
    rule = AlphaSpending(rule)
    spent = sum(look_alpha(alpha, rule, j, max_looks) for j in range(1, looks + 1))
    return Budget(alpha=alpha, rule=rule, max_looks=max_looks, looks=looks, spent=spent,
                  next_alpha=look_alpha(alpha, rule, looks + 1, max_looks))


@dataclass(frozen=True)
class Look:
    """One gate's look at a reference set: its number in the scope, and the level it runs at.

    Attributes:
        budget: the scope's budget before this look (its ``next_alpha`` is this look's share).
        chosen_from: how many models the candidate was picked from *on the reference set*
            (1 when it was named before the reference set was looked at, e.g. chosen on the
            selection set); the level is divided by it (Bonferroni).
        chosen_on: where the candidate was chosen, in words.
    """

    budget: Budget
    chosen_from: int = 1
    chosen_on: str | None = None

    @property
    def number(self) -> int:
        return self.budget.looks + 1

    @property
    def alpha(self) -> float:
        """The one-sided level of every test of this look."""
        return self.budget.next_alpha / self.chosen_from

    @property
    def exhausted(self) -> bool:
        return self.budget.exhausted

    @property
    def description(self) -> str:
        """How the level came about, in one sentence."""
        text = (f"look {self.number} at this reference set in this scope: level "
                f"{number_text(self.budget.next_alpha)} ({self.budget.rule.value} spending of "
                f"alpha {self.budget.alpha:g})")
        if self.chosen_from > 1:
            text += (f", divided by {self.chosen_from} (Bonferroni) because the candidate was "
                     f"picked as the best of {self.chosen_from} on the reference set itself")
        elif self.chosen_on:
            text += f"; the candidate was named before this look ({self.chosen_on})"
        return text

    def to_dict(self) -> dict:
        return {"number": self.number, "alpha": self.alpha, "chosen_from": self.chosen_from,
                "chosen_on": self.chosen_on, "description": self.description,
                "budget": self.budget.to_dict()}
