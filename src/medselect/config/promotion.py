"""The experiment file's ``promotion:`` section: when a new model may replace the one in use.

A candidate is promoted in a scope (everywhere, or at one site) only if it is better than the
models it is compared with on the ``primary`` metric by more than ``margin`` (by the chosen
``test``, patients as the unit, at this look's share of ``alpha``), no ``guard`` metric gets
worse by more than its margin, no site gets worse on the primary metric by more than
``site_margin``, and at least ``min_patients`` patients back the decision. ``alpha`` is the
scope's false-promotion rate over *all* looks at its reference set, spent by
``alpha_spending``. Margins are in the metric's own unit and always say "how much", never
"which way": the metric's direction is known to ``medselect.metrics``. Example::

    promotion:
      primary: {metric: dice, margin: 0.01}
      guards: [{metric: hd95, margin: 1.0}]
      scopes: [global, per_site]
      alpha_spending: geometric   # look j at alpha / 2^j; or bonferroni with max_looks
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from medselect.config.fields import as_list
from medselect.errors import ConfigError

__all__ = ["Criterion", "Guard", "PromotionSpec"]

_SCOPE = re.compile(r"^(global|per_site|site:\S.*)$")


class Criterion(BaseModel):
    """One metric of the gate, at one label (a class, a landmark, ``mean`` or ``case``)."""

    model_config = ConfigDict(extra="forbid")

    metric: str | None = Field(
        None, min_length=1, description="left out: the ranking metric, else the first "
                                        "evaluation metric",
    )
    label: str = "mean"
    margin: float = Field(0.0, ge=0)


class Guard(Criterion):
    """A metric that must not get worse by more than ``margin``."""

    metric: str = Field(min_length=1)


class GateBounds(BaseModel):
    """The gate's numbers and their bounds, declared once: the experiment file is checked
    against them (with file, field and line) and so is a gate built in code
    (:meth:`check`)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.05, gt=0, le=0.5, description="one-sided false-promotion rate of "
                                                         "the test, over all looks")
    confidence: float = Field(0.95, ge=0.5, lt=1, description="level of reported intervals")
    site_margin: float | None = Field(
        None, ge=0, description="largest allowed loss on the primary metric at any one site; "
                                "null: no per-site check",
    )
    min_patients: int = Field(10, ge=1, description="fewest patients a decision rests on")
    max_looks: int = Field(10, ge=1, description="looks a bonferroni budget allows")

    @classmethod
    def check(cls, **values: Any) -> None:
        """Raise ConfigError naming ``promotion.<field>`` when a value is out of its bounds."""
        try:
            cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            raise ConfigError(f"promotion.{field}: {error['msg']}, got "
                              f"{error.get('input')!r}") from None


class PromotionSpec(GateBounds):
    """The promotion gate: the evidence a candidate needs to become the model in use."""

    primary: Criterion = Field(default_factory=Criterion)
    test: Literal["bootstrap", "wilcoxon"] = "bootstrap"
    guards: list[Guard] = Field(default_factory=list)
    compare_with: Literal["champion", "all_versions"] = "all_versions"
    scopes: list[str] = Field(default_factory=lambda: ["global"], min_length=1)
    alpha_spending: Literal["geometric", "bonferroni", "none"] = Field(
        "geometric", description="how alpha is split across looks at one reference set")

    @model_validator(mode="before")
    @classmethod
    def _min_cases_is_min_patients(cls, data: Any) -> Any:
        if isinstance(data, dict) and "min_cases" in data:
            warnings.warn("promotion.min_cases is deprecated: the gate counts patients; "
                          "write min_patients instead", FutureWarning, stacklevel=2)
            data = dict(data)
            data.setdefault("min_patients", data.pop("min_cases"))
            data.pop("min_cases", None)
        return data

    @field_validator("scopes", mode="before")
    @classmethod
    def _scalar_as_list(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not _SCOPE.match(scope):
                raise ValueError(
                    f"unknown scope {scope!r}; use 'global', 'per_site' (every site) or "
                    "'site:<name>' (one site)"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"scopes must not repeat, got {value}")
        return value
