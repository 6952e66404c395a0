"""New cases: which models to run, and what an upload shows (its inference runs in
:mod:`medselect.dashboard.upload_queue`)."""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import BaseModel

from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import Gallery, ModelInfo
from medselect.dashboard.upload_queue import UploadStatus
from medselect.dashboard.views.leaderboard import leaderboard_view
from medselect.dashboard.views.model import gallery_row, model_view
from medselect.errors import ConfigError, MedselectError, NotFound
from medselect.evaluate import select_runs
from medselect.store import (
    RunStatus,
    case_set_members,
    get_predictions,
    get_run,
    get_task,
    latest_evaluations,
    list_runs,
)

DEFAULT_TOP_K = 3


class UploadForm(BaseModel):
    """What the upload form offers: finished runs, best first, and the ones ticked by default."""

    models: list[ModelInfo]
    default: list[str]
    ranked_by: str | None
    tasks: list[str]


class UploadPage(BaseModel):
    """An upload's status and, once finished, each model's gallery on the new case set."""

    status: UploadStatus
    galleries: list[Gallery] = []


def upload_form(dash: Dashboard, conn: sa.Connection) -> UploadForm:
    """Finished runs, best first: the default leaderboard's chosen model, then its order (its
    metric named) when there is one, else by validation score."""
    tasks = sorted({run["task"] for run in list_runs(conn, status=RunStatus.FINISHED)})
    infos = {ref: info for task in tasks for ref, info in queries.model_infos(conn, task).items()
             if info.kind == "run" and info.status == RunStatus.FINISHED}
    ranked, metric = _leaderboard_order(dash, conn)
    if not ranked:
        ranked = _validation_order(conn, tasks)
    order = [ref for ref in ranked if ref in infos] + sorted(set(infos) - set(ranked))
    return UploadForm(models=[infos[ref] for ref in order], default=order[:DEFAULT_TOP_K],
                      ranked_by=metric, tasks=tasks)


def _leaderboard_order(dash: Dashboard, conn: sa.Connection) -> tuple[list[str], str | None]:
    if not queries.case_set_choices(conn):
        return [], None
    try:
        board = leaderboard_view(dash, conn)
    except MedselectError:  # e.g. the most evaluated case set has no labels, so no metric
        return [], None
    # the chosen model first: a tie-break may prefer another than the top point estimate
    order = [board.best, *(r.model for r in board.rows if r.model != board.best)]
    return order, f"{board.aggregate} {board.metric}"


def _validation_order(conn: sa.Connection, tasks: list[str]) -> list[str]:
    from medselect.tasks import get_task_plugin  # torch: only on the new-cases path

    order = []
    for task in tasks:
        mode = get_task_plugin(get_task(conn, task)["kind"]).primary_metric.mode
        order += [run["id"] for run in select_runs(conn, task, top=10**6, mode=mode)]
    return order


def choose_models(dash: Dashboard, conn: sa.Connection, models: list[str]
                  ) -> tuple[str, list[str]]:
    """The task and the runs to evaluate: ``models`` if given, else the form's default (top k).

    Raises:
        ConfigError: a model is not a finished run, or the models belong to several tasks.
        NotFound: there is no finished run at all.
    """
    form = upload_form(dash, conn)
    chosen = list(dict.fromkeys(models)) or form.default
    if not chosen:
        raise NotFound("this workspace has no finished run to predict with; train some with "
                       "`medselect sweep run EXPERIMENT.yaml` first")
    known = {info.ref for info in form.models}
    unknown = [ref for ref in chosen if ref not in known]
    if unknown:
        raise ConfigError(f"models: {', '.join(unknown)} are not finished runs of this "
                          f"workspace; choose among {', '.join(sorted(known))}")
    tasks = sorted({get_run(conn, ref)["task"] for ref in chosen})
    if len(tasks) > 1:
        raise ConfigError(f"models: the chosen runs belong to tasks {', '.join(tasks)}; choose "
                          f"runs of one task")
    return tasks[0], chosen


def upload_page(dash: Dashboard, conn: sa.Connection, status: UploadStatus) -> UploadPage:
    """The status, and once finished each model's predictions in the model pages' gallery
    (with metrics when labels were given; all cases on one page)."""
    if status.status != "finished" or status.case_set is None:
        return UploadPage(status=status)
    evaluations = latest_evaluations(conn, status.case_set)
    galleries = []
    for model in status.models:
        if model not in evaluations:
            continue
        if status.labelled:
            page = model_view(dash, conn, model, case_set=status.case_set,
                              page_size=len(status.cases))
            galleries.append(page.gallery)
            continue
        galleries.append(_unlabelled_gallery(conn, status, model, evaluations[model]["id"]))
    return UploadPage(status=status, galleries=galleries)


def _unlabelled_gallery(conn: sa.Connection, status: UploadStatus, model: str,
                        evaluation_id: str) -> Gallery:
    sites = {c["case_id"]: c["site"] for c in case_set_members(conn, status.case_set)}
    rows = [gallery_row(p["case_id"], {"site": sites.get(p["case_id"], status.site)}, [], p,
                        (0, 0)) for p in get_predictions(conn, evaluation_id)]
    return Gallery(model=model, case_set=status.case_set, label="", columns=[], sort="",
                   descending=False, site=None, sites=sorted(set(sites.values())), page=1,
                   page_size=max(len(rows), 1), total=len(rows), rows=rows)

