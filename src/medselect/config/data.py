r"""The experiment file's ``data:`` section: where cases come from and how they are split.

``source`` is one of four kinds, told apart by its ``kind`` key; relative paths are resolved
against the folder of the experiment file. A file source may say who each case belongs to when
the files do not (``patients``: a pattern with a named group ``patient`` on the case id;
``case_info``: a CSV of case_id, patient_id, site and attributes; ``site``: the site of cases
that name none). Example::

    data:
      source: {kind: nnunet, path: Dataset001_Knee, patients: '(?P<patient>.+)_z\d+'}
      # or {kind: manifest, path: cases.csv}, {kind: datalist, path: Task02_Heart}
      split:
        fractions: {train: 0.7, val: 0.1, test: 0.2}
        stratify_by: site
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from medselect.config.fields import ResolvedPath, patient_pattern
from medselect.errors import ConfigError

__all__ = [
    "DataSource",
    "DataSpec",
    "DatalistSource",
    "ManifestSource",
    "NnunetSource",
    "PhantomSource",
    "SplitFractions",
    "SplitSpec",
]


class PhantomSource(BaseModel):
    """The built-in multi-site knee MR phantom (``medselect.data.phantom``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["phantom"] = "phantom"
    cases_per_site: int = Field(8, ge=1)
    sites: int | list[str] = Field(
        4, description="how many of the generator's built-in site profiles, or their names"
    )
    size: int = Field(128, ge=16, description="image matrix in pixels per axis")
    seed: int = Field(0, ge=0)
    spatial_dims: Literal[2, 3] | None = Field(
        None, description="2 or 3; left out, the task's spatial_dims"
    )
    site_cases: dict[str, int] = Field(
        default_factory=dict, description="cases of a named site in place of cases_per_site "
                                          "(a site that contributes fewer cases)")

    @field_validator("sites", mode="before")
    @classmethod
    def _one_name_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("site_cases")
    @classmethod
    def _positive_counts(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {site: n for site, n in value.items() if n < 1}
        if bad:
            raise ValueError(f"every site needs at least 1 case, got {bad}")
        return value

    @field_validator("sites")
    @classmethod
    def _some_sites(cls, value: int | list[str]) -> int | list[str]:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"need at least 1 site, got {value}")
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError(f"site names must be non-empty and unique, got {value}")
        return value


class _FileSource(BaseModel):
    """A source read from files, and who each case belongs to where the files do not say."""

    model_config = ConfigDict(extra="forbid")

    path: ResolvedPath
    patients: str | None = Field(
        None, description="pattern on the case id with a named group 'patient' (and "
                          "optionally 'site'), e.g. '(?P<patient>.+)_z\\d+'")
    case_info: ResolvedPath | None = Field(
        None, description="CSV of case_id, patient_id, site and any attribute")
    site: str | None = Field(None, description="site of the cases that name none")

    @field_validator("patients")
    @classmethod
    def _patient_group(cls, value: str | None) -> str | None:
        if value is not None:
            patient_pattern(value)
        return value


class ManifestSource(_FileSource):
    """A CSV or JSON manifest: one row per case with image, label, site and patient columns."""

    kind: Literal["manifest"] = "manifest"

    @field_validator("path")
    @classmethod
    def _csv_or_json(cls, value: ResolvedPath) -> ResolvedPath:
        if value.suffix.lower() not in (".csv", ".json"):
            raise ValueError(f"a manifest is a .csv or .json file, got '{value}'")
        return value


class NnunetSource(_FileSource):
    """An nnU-Net raw dataset folder (``dataset.json``, ``imagesTr``, ``labelsTr``)."""

    kind: Literal["nnunet"] = "nnunet"


class DatalistSource(_FileSource):
    """A Medical Segmentation Decathlon / MONAI datalist (``dataset.json`` listing ``training``
    cases), or the folder holding it."""

    kind: Literal["datalist"] = "datalist"


DataSource = Annotated[PhantomSource | ManifestSource | NnunetSource | DatalistSource,
                       Discriminator("kind")]
"""One of the source kinds, chosen by its ``kind`` key."""


class SplitFractions(BaseModel):
    """Share of patients per split; the three add up to 1."""

    model_config = ConfigDict(extra="forbid")

    train: float = Field(0.7, ge=0, le=1)
    val: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(
                f"train {self.train:g} + val {self.val:g} + test {self.test:g} = {total:g}; "
                "the fractions must sum to 1"
            )
        if self.train == 0:
            raise ValueError("train is 0; a sweep needs training cases")
        return self

    def as_dict(self) -> dict[str, float]:
        """``{"train": ..., "val": ..., "test": ...}``, as ``medselect.data.splits`` takes it."""
        return {"train": self.train, "val": self.val, "test": self.test}


class SplitSpec(BaseModel):
    """How cases are split (per patient, so one patient never straddles train and test)."""

    model_config = ConfigDict(extra="forbid")

    fractions: SplitFractions = Field(default_factory=SplitFractions)
    stratify_by: str | None = Field(
        "site", description="case field or attribute split separately per value; null: none"
    )
    seed: int = Field(0, ge=0)
    held_out_sites: list[str] = Field(
        default_factory=list,
        description="sites no model trains on: their patients go only to val and test (at "
                    "least 2 each), to measure transfer to a hospital the models never saw")
    freeze_reference: bool = Field(
        True, description="the first dataset version's test split becomes the frozen "
                          "reference set every later model is compared on",
    )

    @field_validator("held_out_sites")
    @classmethod
    def _distinct_sites(cls, value: list[str]) -> list[str]:
        if any(not site for site in value) or len(set(value)) != len(value):
            raise ValueError(f"site names must be non-empty and unique, got {value}")
        return value

    @model_validator(mode="after")
    def _held_out_gets_val_and_test(self) -> SplitSpec:
        if self.held_out_sites and not (self.fractions.val and self.fractions.test):
            raise ValueError("held_out_sites: a held-out site's patients go to val and test, "
                             "so fractions.val and fractions.test must both be above 0")
        return self

    @classmethod
    def of(cls, fractions: Mapping[str, float] | None = None, seed: int = 0,
           held_out_sites: Sequence[str] = ()) -> SplitSpec:
        """The split of ``fractions`` (``{"train": 0.8, "test": 0.2}``: a split not named gets
        none), ``seed`` and ``held_out_sites``; None keeps the default fractions.

        Raises:
            ConfigError: the fractions are unknown splits or do not sum to 1 (``param``
                ``split``), or sites are held out without val and test (``held_out_sites``).
        """
        held = {"seed": seed, "held_out_sites": list(held_out_sites)}
        try:
            split = None if fractions is None else SplitFractions(
                **{"val": 0.0, "test": 0.0, **fractions})
        except ValidationError as exc:
            raise ConfigError(_reason(exc) + "; write e.g. train=0.7,val=0.1,test=0.2",
                              param="split") from None
        try:
            return cls(**held) if split is None else cls(fractions=split, **held)
        except ValidationError as exc:
            raise ConfigError(_reason(exc).removeprefix("held_out_sites: "),
                              param="held_out_sites") from None


def _reason(exc: ValidationError) -> str:
    """The first message of a validation error, without pydantic's prefix."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class DataSpec(BaseModel):
    """Where the cases come from and how they are split."""

    model_config = ConfigDict(extra="forbid")

    source: DataSource
    split: SplitSpec = Field(default_factory=SplitSpec)

    @model_validator(mode="after")
    def _held_out_sites_exist(self) -> DataSpec:
        """A phantom with named sites can check ``held_out_sites`` here, before any case is
        made; other sources are checked against their cases when the split is made."""
        sites = getattr(self.source, "sites", None)
        unknown = sorted(set(self.split.held_out_sites) - set(sites)) \
            if isinstance(sites, list) else []
        if unknown:
            raise ValueError(f"split.held_out_sites names unknown site(s) {unknown}; the "
                             f"phantom's sites are {sites}")
        return self
