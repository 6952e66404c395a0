"""Trained runs as predictors: which runs to evaluate, and their networks loaded once.

A fold ensemble of cross-validation is a run too: its network is its members' networks,
averaged (:class:`~medselect.train.EnsembleNetwork`).

torch and MONAI are imported only when a network is loaded or run, so importing
``medselect.evaluate`` stays light for callers that only read results or draw overlays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from pydantic import ValidationError

from medselect.config import RunConfig, TaskSpec, fold_run_ids, stored_cv
from medselect.data.loading import LoadedCase
from medselect.errors import ConfigError, EvaluationError, NotFound, TrainingError
from medselect.evaluate.predictors import CaseFailure, Explained, Prediction
from medselect.store import RunStatus, Workspace, get_run, list_runs


def select_runs(
    conn: sa.Connection,
    task: str,
    *,
    run_ids: Sequence[str] | None = None,
    top: int | None = None,
    mode: Literal["max", "min"] = "max",
) -> list[dict[str, Any]]:
    """The finished runs of ``task`` to evaluate: the named ones or all, then the best ``top``.

    "All" leaves out the fold runs of cross-validation: each is evaluated only on the fold it
    held out (:mod:`medselect.evaluate.outoffold`), and its configuration's final model (refit
    or ensemble) stands for it everywhere else.

    Args:
        run_ids: evaluate these runs only (each a finished or pruned run of ``task``).
        top: keep the ``top`` runs with the best ``best_metric`` (validation score); runs
            without one come last.
        mode: whether a higher (``max``) or lower ``best_metric`` is better.

    Raises:
        NotFound: a named run is not in the workspace, or the task has no finished run.
        ConfigError: a named run belongs to another task or has not finished; ``top`` < 1.
    """
    if run_ids:
        runs = [get_run(conn, run_id) for run_id in dict.fromkeys(run_ids)]
        for run in runs:
            if run["task"] != task:
                raise ConfigError(f"run {run['id']!r} belongs to task {run['task']!r}, not "
                                  f"{task!r}; evaluate it with its own task", param="runs")
            # a pruned run named is asked for
            if run["status"] not in (RunStatus.FINISHED, RunStatus.PRUNED):
                raise ConfigError(f"run {run['id']!r} is {run['status']}, not finished; only "
                                  "finished (or pruned) runs have a checkpoint to evaluate "
                                  f"(`medselect runs show {run['id']}`)", param="runs")
    else:
        runs = models_to_evaluate(conn, task)
        if not runs and list_runs(conn, task=task, status=RunStatus.FINISHED):
            raise NotFound(f"task {task!r} has only fold runs of cross-validation, which are "
                           f"evaluated on their held-out folds; build the chosen "
                           f"configuration's model with `medselect sweep finalize "
                           f"EXPERIMENT.yaml` first")
        if not runs:
            raise NotFound(f"task {task!r} has no finished run to evaluate; train some with "
                           f"`medselect sweep run EXPERIMENT.yaml` first")
    if top is None:
        return runs
    if top < 1:
        raise ConfigError(f"must be at least 1, got {top}", param="top")
    sign = -1.0 if mode == "max" else 1.0
    return sorted(runs, key=lambda r: _sort_key(r["best_metric"], sign))[:top]


def models_to_evaluate(conn: sa.Connection, task: str) -> list[dict[str, Any]]:
    """The finished runs of ``task`` that are models in their own right: all but the fold runs
    of cross-validation (evaluated only on the fold each held out)."""
    return [r for r in list_runs(conn, task=task, status=RunStatus.FINISHED)
            if (cv := stored_cv(r["config"] or {})) is None or cv.fold is None]


def _sort_key(value: float | None, sign: float) -> tuple[bool, float]:
    missing = value is None or math.isnan(value)
    return missing, 0.0 if missing else sign * value


class TrainedPredictor:
    """A finished run: its network, loaded once, predicts batches of cases.

    Args:
        ws: the workspace holding the run's checkpoint.
        run: the ``run`` row.
        task: the task it was trained for (input channels, dimensions, classes).
        device: ``cpu``, ``cuda``, ``cuda:N``; None picks CUDA when present.
        sliding_window: see :func:`medselect.evaluate.inference.predict_labels`.
        saliency: an image-level network also returns a saliency map per case
            (:class:`~medselect.evaluate.predictors.Explained`), for its overlay.
    """

    fingerprint = ""

    def __init__(self, ws: Workspace, run: Mapping[str, Any], task: TaskSpec, *,
                 device: str | None = None, sliding_window: bool = False,
                 saliency: bool = False) -> None:
        self.ws = ws
        self.run = dict(run)
        self.model_ref: str = run["id"]
        self.task = task
        self.device = device
        self.sliding_window = sliding_window
        self.saliency = saliency
        self.config: RunConfig | None = None
        self.plugin: Any = None
        self.network: Any = None

    def load(self) -> None:
        from medselect.tasks import plugin_for_task
        from medselect.train import load_ensemble, load_model, select_device

        where = str(select_device(self.device))  # ConfigError: no such device stops every model
        self.config = self._config(self.run)
        checkpoints = self._checkpoints()
        try:
            self.plugin = plugin_for_task(self.task, self.config)
            if self.config.cv is not None and self.config.cv.final == "ensemble":
                self.network = load_ensemble([(self.ws.path(uri), config)
                                              for uri, config in checkpoints],
                                             self.plugin, self.task, device=where)
            else:
                [(uri, _)] = checkpoints
                self.network = load_model(self.ws.path(uri), self.config, self.plugin,
                                          self.task, device=where)
            self.network.requires_grad_(False)  # fixed weights: saliency needs input gradients only
        except (TrainingError, ConfigError) as exc:
            uris = ", ".join(uri for uri, _ in checkpoints)
            raise EvaluationError(f"run {self.model_ref!r}: checkpoint {uris} cannot be used: "
                                  f"{exc}") from exc

    def _config(self, run: Mapping[str, Any]) -> RunConfig:
        try:
            return RunConfig.model_validate(run["config"])
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise EvaluationError(f"run {run['id']!r}: its stored configuration is not valid "
                                  f"({reason}); it cannot be rebuilt") from exc

    def _checkpoints(self) -> list[tuple[str, RunConfig]]:
        """(checkpoint URI, configuration) of the run, or of each member of a fold ensemble.

        Raises:
            EvaluationError: a checkpoint is missing, or a member is not a finished run.
        """
        cv = self.config.cv
        if cv is None or cv.final != "ensemble":
            if not self.run.get("checkpoint_uri"):
                raise EvaluationError(f"run {self.model_ref!r} has no checkpoint; train it "
                                      f"again with `medselect sweep run`")
            return [(self.run["checkpoint_uri"], self.config)]
        members = fold_run_ids(self.config, self.run["dataset_version"])
        with self.ws.connect() as conn:
            try:
                rows = [get_run(conn, member) for member in members]
            except NotFound as exc:
                raise EvaluationError(f"fold ensemble {self.model_ref!r}: a member is gone "
                                      f"({exc}); train its fold runs again with `medselect "
                                      f"sweep run`") from exc
        for row in rows:
            if row["status"] != RunStatus.FINISHED or not row["checkpoint_uri"]:
                raise EvaluationError(f"fold ensemble {self.model_ref!r}: member {row['id']!r} "
                                      f"is {row['status']} without a checkpoint; train it with "
                                      f"`medselect sweep run`")
        return [(row["checkpoint_uri"], self._config(row)) for row in rows]

    def predict(self, cases: Sequence[LoadedCase], shared: dict) -> list[Prediction]:
        from medselect.evaluate.inference import predict_labels

        out: list[Prediction | None] = [self._refusal(case) for case in cases]
        usable = [i for i, failure in enumerate(out) if failure is None]
        if usable:
            images, inputs = [cases[i].image for i in usable], shared.setdefault(tuple(usable), {})
            try:
                labels: list[Prediction] = predict_labels(
                    self.network, self.config, self.plugin, images,
                    sliding_window=self.sliding_window, shared=inputs,
                )
            except (RuntimeError, ValueError) as exc:  # a failed batch (memory) spares the rest
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                labels = [CaseFailure("error", f"case {cases[i].case_id!r}: run "
                                               f"{self.model_ref!r} could not predict it "
                                               f"({reason})") for i in usable]
            else:
                if self.saliency and self.plugin.image_level:
                    labels = self._explained(labels, images, inputs)
            for i, label in zip(usable, labels, strict=True):
                out[i] = label
        return out  # type: ignore[return-value]  # every index is filled

    def close(self) -> None:
        self.network = None

    def _explained(self, probabilities: list[Prediction], images: list[np.ndarray],
                   inputs: dict) -> list[Prediction]:
        """Each prediction with its saliency map (the network's gradients, outside no_grad);
        the predictions alone when the maps fail (e.g. the backward pass runs out of memory):
        an overlay without a heat map beats losing the predictions."""
        from medselect.evaluate.saliency import saliency_maps

        try:
            maps = saliency_maps(self.network, self.config, images, shared=inputs)
        except (RuntimeError, ValueError):
            return probabilities
        return [Explained(p, m) for p, m in zip(probabilities, maps, strict=True)]

    def _refusal(self, case: LoadedCase) -> CaseFailure | None:
        """Why the network cannot take ``case`` (channels, dimensions), or None if it can."""
        channels, dims = case.image.shape[0], case.image.ndim - 1
        if channels != self.task.in_channels:
            return CaseFailure("error", (
                f"case {case.case_id!r} has {channels} image channel(s) but run "
                f"{self.model_ref!r} was trained on {self.task.in_channels} (task "
                f"{self.task.name!r}); evaluate it with a model trained on the same "
                f"modalities, or give the case {self.task.in_channels} channel(s)"))
        if dims != self.task.spatial_dims:
            return CaseFailure("error", (
                f"case {case.case_id!r} is {dims}D but run {self.model_ref!r} was trained on "
                f"{self.task.spatial_dims}D images (task {self.task.name!r})"))
        return None
