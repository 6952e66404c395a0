"""The dashboard as a folder of HTML files that opens from disk (``medselect report``).

The same views and templates as the live app, with :class:`~.links.StaticLinks`: every link is
relative, overlays and plotly.js are copied in, and what the server does per request is done
ahead (one leaderboard file per metric, label, aggregate and site) or in the browser (sorting,
site filter and paging of galleries). Reviews are shown but cannot be added.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import sqlalchemy as sa

from medselect.dashboard import charts, queries, views
from medselect.dashboard.context import Dashboard
from medselect.dashboard.files import artifact_path
from medselect.dashboard.links import StaticLinks, slug
from medselect.dashboard.render import PLOTLY_BUNDLE, STATIC, render_page
from medselect.dashboard.settings import DashboardSettings
from medselect.dashboard.views import leaderboard
from medselect.errors import ConfigError, MedselectError, NotFound, RankingError
from medselect.store import Workspace, get_predictions

COMPARE_TOP = 4


def export_static(
    workspace: Workspace,
    out_dir: str | os.PathLike[str],
    *,
    case_set: str | None = None,
    n_resamples: int | None = None,
    seed: int | None = None,
) -> Path:
    """Write the dashboard of ``case_set`` (an id, or ``test``, ``val``, ``reference``; default:
    the one the live app opens on, the task's test set when it was evaluated, never an upload
    while another set was) to ``out_dir``.

    Writes ``index.html`` (the default leaderboard), ``leaderboard/*.html`` (the other
    metrics, labels, aggregates and sites; a set metric such as AUC is its own aggregate),
    ``models/*.html`` (every case in each gallery), ``cases/*.html``, ``compare/*.html`` (the
    top 2, 3 and 4 models), ``sites.html``, ``registry.html``, ``cards/*.html`` (the model
    card of every registry version), ``artifacts/`` (the overlays and thumbnails, and the
    registry's decision reports and the cards' worst cases) and ``static/``. The report is built
    in a hidden sibling folder and swapped in whole, so an interrupted export never leaves a
    half-written report; an existing ``out_dir`` is replaced only if it is empty or an earlier
    report.

    ``n_resamples`` and ``seed`` replace the task's ranking rules' bootstrap size and seed
    (None: the rules' own, as ``medselect rank`` uses).

    Returns:
        the path of ``index.html``.

    Raises:
        NotFound: nothing was evaluated yet, or ``case_set`` is missing.
        ConfigError: ``out_dir`` holds something other than an earlier report.
    """
    final = Path(out_dir)
    if final.exists() and any(final.iterdir()) and not (final / "index.html").is_file():
        raise ConfigError(f"--out {final}: the folder exists and is not a medselect report; "
                          "choose a new or empty folder")
    out = final.with_name(f".{final.name}.partial")
    shutil.rmtree(out, ignore_errors=True)
    try:
        _export(workspace, out, case_set=case_set, n_resamples=n_resamples, seed=seed)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    out.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final / "index.html"


def _export(workspace: Workspace, out: Path, *, case_set: str | None, n_resamples: int | None,
            seed: int | None) -> None:
    settings = DashboardSettings(workspace=workspace.root, n_resamples=n_resamples, seed=seed)
    dash = Dashboard(workspace, settings, frozen=True)
    with workspace.connect() as conn:
        req = leaderboard.resolve(dash, conn, case_set=case_set)
        scope = req.scope
        board = views.leaderboard_view(dash, conn, case_set=scope.id)
        top = [r.model for r in board.rows[:COMPARE_TOP]]
        compares = [tuple(top[:k]) for k in range(2, len(top) + 1)]
        per_case = queries.find_metric(req.catalog, req.metric).per_case
        links = StaticLinks(default_board=StaticLinks.board_key(
            req.metric, req.label, req.aggregate if per_case else None), compares=compares,
            models=list(scope.evaluations), case_set=scope.id)
        _export_leaderboards(dash, conn, out, req, links, compares)
        for ref in scope.evaluations:
            page = views.model_view(dash, conn, ref, case_set=scope.id, page_size=0)
            _write(out / "models" / f"{slug(ref)}.html",
                   render_page("model.html", links.at(1), page, charts=charts.model_charts(page)))
        for case_id in queries.case_sites(dash, conn, scope):
            page = views.case_view(dash, conn, case_id, case_set=scope.id)
            _write(out / "cases" / f"{slug(case_id)}.html",
                   render_page("case.html", links.at(1), page))
        for models in compares:
            page = views.compare_view(dash, conn, models, case_set=scope.id, limit=0)
            _write(out / links.compare_file(models),
                   render_page("compare.html", links.at(1), page))
        _copy_artifacts(conn, workspace.root, out / "artifacts", scope)
        _export_sites(dash, conn, out, scope, links)
        _export_registry(dash, conn, out, links)
    _copy_static(out / "static")


def _export_leaderboards(dash: Dashboard, conn: sa.Connection, out: Path,
                         req: leaderboard.BoardRequest, links: StaticLinks, compares) -> None:
    scope = req.scope
    # sites first: a site's ranking holds the board of all cases too (see the leaderboard view)
    sites = [*sorted(set(queries.case_sites(dash, conn, scope).values())), None]
    for info in req.catalog:
        aggregates = ([a.name for a in leaderboard.aggregate_choices(req.rules.spec,
                                                                      info.direction)]
                      if info.per_case else [None])
        for label in info.labels:
            for aggregate in aggregates:
                for site in sites:
                    params = dict(case_set=scope.id, metric=info.name, label=label,
                                  aggregate=aggregate, site=site)
                    name = links.board_file(links.board_key(info.name, label, aggregate, site),
                                            links.default_board)
                    try:
                        board = views.leaderboard_view(dash, conn, **params)
                        sig = views.significance_view(dash, conn, **params)
                    except RankingError as exc:  # e.g. an AUC at a site with one class only
                        html = render_page("error.html", links.at(name.count("/")), status=400,
                                           reason="Cannot rank", message=str(exc))
                    else:
                        html = render_page("leaderboard.html", links.at(name.count("/")), board,
                                           charts=charts.leaderboard_charts(board, sig),
                                           compares=compares)
                    _write(out / name, html)


def _copy_artifacts(conn: sa.Connection, root: Path, target: Path, scope: queries.Scope) -> None:
    """Copy every overlay and thumbnail of the scope's predictions (only files inside the
    workspace, as the live app serves them)."""
    uris = {uri for evaluation in scope.evaluations.values()
            for p in get_predictions(conn, evaluation["id"])
            for uri in (p["overlay_uri"], p["thumbnail_uri"]) if uri}
    _copy_files(root, target, uris)


def _copy_files(root: Path, target: Path, uris: set[str]) -> None:
    """Copy the workspace files ``uris`` to ``target`` that the live app would serve."""
    for uri in sorted(uris):
        try:
            source = artifact_path(root, uri)
        except NotFound:
            continue
        destination = target / uri
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def _export_sites(dash: Dashboard, conn: sa.Connection, out: Path, scope: queries.Scope,
                  links: StaticLinks) -> None:
    """``sites.html``: the best model per site under the task's ranking rules (its links lead
    to the exported case set's boards and galleries), or why there is none."""
    try:
        page = views.sites_view(dash, conn, case_set=scope.id)
    except (RankingError, NotFound) as exc:
        html = render_page("error.html", links.at(0), status=400, reason="No choice per site",
                           message=str(exc))
    else:
        html = render_page("sites.html", links.at(0), page)
    _write(out / "sites.html", html)


def _export_registry(dash: Dashboard, conn: sa.Connection, out: Path,
                     links: StaticLinks) -> None:
    """``registry.html``, the model card of every version it lists (``cards/``), and a copy of
    every decision report and overlay they link (under ``artifacts/``, as the live app serves
    them), so their links work from disk."""
    page = views.registry_view(dash, conn)
    _write(out / "registry.html", render_page("registry.html", links.at(0), page))
    uris = {v.report_uri for t in page.tasks for s in t.scopes for v in s.versions
            if v.report_uri}
    deep = links.at(1)
    for t in page.tasks:
        for s in t.scopes:
            for v in s.versions:
                try:
                    card = views.card_view(dash, conn, t.task, s.scope, v.version, deep.artifact)
                except MedselectError as exc:  # e.g. the version's run was removed
                    html = render_page("error.html", deep, status=404, reason="No model card",
                                       message=str(exc))
                else:
                    html = render_page("card.html", deep, card)
                    uris |= card.artifacts
                _write(out / links.card_file(t.task, s.scope, v.version), html)
    _copy_files(dash.workspace.root, out / "artifacts", uris)


SERVER_ONLY_STATIC = frozenset({"viewer.js"})
"""Static files a report leaves out: the case viewer's (with Niivue, ``vendor/niivue``, which is
not copied either), since it fetches volumes from the server and a page opened from disk
cannot; report pages show the static overlays only. Of ``vendor/`` a report copies the plotly.js
bundle and its licence only."""


def _copy_static(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for source in STATIC.iterdir():
        if source.is_file() and source.name not in SERVER_ONLY_STATIC:
            shutil.copyfile(source, target / source.name)
    bundle = target / PLOTLY_BUNDLE
    bundle.parent.mkdir(parents=True, exist_ok=True)
    for source in (STATIC / PLOTLY_BUNDLE, (STATIC / PLOTLY_BUNDLE).with_name("LICENSE")):
        shutil.copyfile(source, bundle.with_name(source.name))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
