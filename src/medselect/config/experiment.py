"""The root of the experiment file: one YAML file describes a whole experiment.

Each section validates itself; :class:`Experiment` then checks what only the sections together
can tell (input sizes against ``task.spatial_dims``, gate metrics against the evaluated ones,
labels against the task's classes) and fills in the defaults that depend on another section
(the phantom's ``spatial_dims``, the task kind's metrics, the gate's primary metric). Problems
found here carry their place in the file in the error's context (``ctx["at"]``), which
:mod:`medselect.config.loading` reports like any other field path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from medselect.config.data import DataSpec, PhantomSource
from medselect.config.evaluation import DEFAULT_METRICS, EvaluationSpec
from medselect.config.population import population_problems
from medselect.config.promotion import PromotionSpec
from medselect.config.ranking import RankingSpec
from medselect.config.search import search_problems
from medselect.config.sweep import SweepSpec
from medselect.config.task import TaskSpec
from medselect.config.upgrade import UpgradeSpec

__all__ = ["Experiment"]

_Problem = tuple[tuple[str | int, ...], str]  # (field path, message)


class Experiment(BaseModel):
    """A whole experiment: the task, its data, the sweep, evaluation, ranking and the gate.

    ``source`` is the file the experiment was loaded from (None when built in code); it is not
    part of dumps.
    """

    model_config = ConfigDict(extra="forbid")

    task: TaskSpec
    data: DataSpec
    sweep: SweepSpec = Field(default_factory=SweepSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    ranking: RankingSpec = Field(default_factory=RankingSpec)
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    upgrade: UpgradeSpec = Field(default_factory=UpgradeSpec)
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _sections_agree(self) -> Experiment:
        self._fill_defaults()
        problem = next(self._problems(), None)
        if problem is not None:
            at, message = problem
            raise PydanticCustomError("experiment", "{message}", {"message": message, "at": at})
        return self

    def _fill_defaults(self) -> None:
        """Set the defaults that depend on another section (on copies, never on inputs)."""
        source = self.data.source
        if isinstance(source, PhantomSource) and source.spatial_dims is None:
            filled = source.model_copy(update={"spatial_dims": self.task.spatial_dims})
            self.data = self.data.model_copy(update={"source": filled})
        if "metrics" not in self.evaluation.model_fields_set:
            metrics = list(DEFAULT_METRICS[self.task.family])
            self.evaluation = self.evaluation.model_copy(update={"metrics": metrics})
        if self.promotion.primary.metric is None:
            metric = next(iter(self.ranking.metrics()), self.evaluation.metrics[0])
            primary = self.promotion.primary.model_copy(update={"metric": metric})
            self.promotion = self.promotion.model_copy(update={"primary": primary})

    def _problems(self) -> Iterator[_Problem]:
        yield from self._data_problems()
        yield from self._input_size_problems()
        yield from self._metric_problems()
        yield from self._search_problems()

    def _search_problems(self) -> Iterator[_Problem]:
        for at, message in (*search_problems(self.sweep), *population_problems(self.sweep)):
            yield ("sweep", *at), message
        strategy = self.sweep.strategy
        if strategy not in ("optuna", "pbt"):
            return
        if self.ranking.selection.folds:
            yield (("sweep", "strategy"),
                   f"strategy {strategy!r} does not cross-validate (ranking.selection.folds is "
                   "set); use grid, random or list with folds, or remove ranking.selection.folds")
        if self.upgrade.retrain == "sweep":
            yield (("upgrade", "retrain"),
                   "retrain 'sweep' repeats a grid, random or list sweep on the new data; with "
                   f"strategy {strategy!r} use retrain: top_k (the best configurations found)")

    def _data_problems(self) -> Iterator[_Problem]:
        source, dims = self.data.source, self.task.spatial_dims
        if isinstance(source, PhantomSource):
            if source.spatial_dims != dims:
                yield (("data", "source", "spatial_dims"),
                       f"the phantom is {source.spatial_dims}D but task.spatial_dims is {dims}; "
                       "make them equal or leave data.source.spatial_dims out")
            if self.task.in_channels != 1:
                yield (("task", "in_channels"),
                       f"the phantom has 1 image channel, not {self.task.in_channels}")
            if isinstance(source.sites, list):
                for i, scope in enumerate(self.promotion.scopes):
                    site = scope.removeprefix("site:")
                    if scope.startswith("site:") and site not in source.sites:
                        yield (("promotion", "scopes", i),
                               f"site {site!r} is not among data.source.sites {source.sites}")
        if self.data.split.held_out_sites and self.ranking.selection.folds:
            yield (("data", "split", "held_out_sites"),
                   "cross-validation (ranking.selection.folds) folds train + val, so it would "
                   "train on a held-out site's validation patients; remove one of the two")
        if "reference" in self.evaluation.case_sets and not self.data.split.freeze_reference:
            yield (("evaluation", "case_sets", self.evaluation.case_sets.index("reference")),
                   "case set 'reference' needs data.split.freeze_reference: true")

    def _input_size_problems(self) -> Iterator[_Problem]:
        dims = self.task.spatial_dims
        sizes = [(("sweep", "space", "input_size", i), size)
                 for i, size in enumerate(self.sweep.space.input_size)]
        sizes += [(("sweep", "configs", i, "input_size"), config.input_size)
                  for i, config in enumerate(self.sweep.configs)
                  if "input_size" in config.model_fields_set]
        for at, size in sizes:
            if len(size) != dims:
                yield at, (f"input size {list(size)} has {len(size)} axes but task.spatial_dims "
                           f"is {dims}; give {dims} sizes")

    def _metric_problems(self) -> Iterator[_Problem]:
        evaluated = self.evaluation.metrics
        foreground = self.task.foreground
        for name in self.evaluation.nsd_tolerance_mm.classes:
            if name not in foreground:
                yield (("evaluation", "nsd_tolerance_mm", name),
                       f"{name!r} is not a foreground class of the task; use one of: "
                       f"{', '.join(foreground) or '(none: not a segmentation task)'}")
        for name in self.ranking.metrics():
            if name not in evaluated:
                at = ("ranking", "metric") if name == self.ranking.metric else (
                    "ranking", "weights", name)
                yield (at,
                       f"ranking metric {name!r} is not evaluated; add it to evaluation.metrics "
                       f"({', '.join(evaluated)})")
        labels = self.task.labels()
        criteria = [(("promotion", "primary"), self.promotion.primary)]
        criteria += [(("promotion", "guards", i), g) for i, g in enumerate(self.promotion.guards)]
        for at, criterion in criteria:
            if criterion.metric not in evaluated:
                yield (*at, "metric"), (f"gate metric {criterion.metric!r} is not evaluated; "
                                        f"add it to evaluation.metrics ({', '.join(evaluated)})")
            if criterion.label not in labels:
                yield (*at, "label"), (f"label {criterion.label!r} is not a class or landmark "
                                       f"of the task; use one of: {', '.join(labels)}")
