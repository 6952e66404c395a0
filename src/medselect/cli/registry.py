"""The registry commands: ``registry show|history|backfill``, ``promote``, ``rollback``,
``card``, ``audit verify`` and ``upgrade``.

Every change goes through :mod:`medselect.registry` (the gate, one transaction, an audit event);
these commands only parse, call and print. ``promote`` and ``upgrade`` exit 1 when nothing was
promoted, with the first reason on one line, so scripts can tell.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from medselect.cli.context import CLIContext, abort, fmt_number
from medselect.cli.options import (
    DEFAULT_WORKSPACE,
    AddressOpt,
    ExecutorOpt,
    JsonOpt,
    ThreadsOpt,
    WorkersOpt,
    WorkspaceOpt,
)

if TYPE_CHECKING:
    from medselect.registry import ModelVersion, PromotionOutcome, UpgradeResult
    from medselect.store import Workspace

app = typer.Typer(help="The model registry: champions, history, backfill.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)

TaskOpt = Annotated[str | None, typer.Option("--task", help="Task (default: every task, or the "
                                                            "only one).")]
ScopeOpt = Annotated[str, typer.Option("--scope", help="global | site:NAME")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who is acting, for the audit log "
                                                              "(default: the login name).")]
ExperimentOpt = Annotated[Path | None, typer.Option(
    "--experiment", help="Experiment YAML whose promotion: and evaluation: sections to use "
                         "(default: the gate's defaults and the task kind's metrics).")]


@app.command("show")
def show(ctx: typer.Context, workspace: WorkspaceOpt = DEFAULT_WORKSPACE, task: TaskOpt = None,
         experiment: Annotated[Path | None, typer.Option(
             "--experiment", help="Experiment YAML whose promotion: section fixes the alpha "
                                  "spending (default: the one recorded with each scope's "
                                  "newest gate decision).")] = None,
         json_: JsonOpt = False) -> None:
    """The champion of every task and scope, with the evidence it was promoted on, and each
    scope's error budget on its reference set (looks taken, alpha spent, the next level)."""
    from medselect.registry import current_champion, reference_case_set
    from medselect.registry.looks import scope_budget
    from medselect.store import Workspace, get_case_set, list_model_versions

    cli: CLIContext = ctx.obj
    spending = None
    if experiment is not None:
        from medselect.config import load_experiment

        spending = load_experiment(experiment).promotion.model_dump()
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        pairs = dict.fromkeys((v["task"], v["scope"]) for v in list_model_versions(conn, task))
        champions = [c for t, s in pairs if (c := current_champion(conn, t, s)) is not None]
        references = {t: get_case_set(conn, reference_case_set(conn, t)) for t, _ in pairs}
        budgets = {(c.task, c.scope): scope_budget(conn, c.task, c.scope, references[c.task],
                                                   spending) for c in champions}
    rows = [{**_version_row(ws, v), "budget": budgets[v.task, v.scope].to_dict()}
            for v in champions]
    ws.dispose()
    if json_:
        cli.print_json(rows)
        return
    if not rows:
        cli.out.print("no champion yet: promote a run with `medselect promote RUN`")
        return
    table = _table("task", "scope", "v", "model", "trained on", "promoted by", "on",
                   title="champions")
    for r in rows:
        table.add_row(r["task"], r["scope"], str(r["version"]), r["model_ref"],
                      r["dataset_version"] or "", r["created_by"], r["created_at"][:10])
    cli.out.print(table)
    for r in rows:
        cli.out.print(f"{r['task']} {r['scope']} v{r['version']}: {_why(r)}", highlight=False)
        if r["report"]:
            cli.out.print(f"  decision report: {r['report']}", highlight=False)
    _print_budgets(cli, [r["budget"] for r in rows])


def _print_budgets(cli: CLIContext, budgets: list[dict]) -> None:
    """Each scope's error budget on its reference set, and the advice when it runs low."""
    table = _table("task", "scope", "reference", "looks", "spent", "alpha", "next level",
                   "rule", title="error budget on the reference set")
    for b in budgets:
        limit = f" of {b['max_looks']}" if b["rule"] == "bonferroni" else ""
        table.add_row(b["task"], b["scope"], b["reference_case_set"], f"{b['looks']}{limit}",
                      f"{b['spent']:.3g}", f"{b['alpha']:g}", f"{b['next_alpha']:.3g}",
                      b["rule"])
    cli.out.print(table)
    protocols = ", ".join(dict.fromkeys(b["protocol"] for b in budgets))
    cli.out.print(f"spending rule from {protocols}", highlight=False)
    for b in budgets:
        if b["advice"]:
            cli.out.print(f"[yellow]{b['task']} {b['scope']}:[/] {b['advice']}",
                          highlight=False)


@app.command("history")
def history_(ctx: typer.Context, workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
             task: TaskOpt = None,
             scope: Annotated[str | None, typer.Option("--scope", help="Only this scope.")] = None,
             json_: JsonOpt = False) -> None:
    """Every version of every scope: champions, retired, rejected, rolled back."""
    from medselect.registry import ModelVersion, parse_scope
    from medselect.store import Workspace, list_model_versions

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        rows = list_model_versions(conn, task, None if scope is None else parse_scope(scope))
    versions = [_version_row(ws, ModelVersion.from_row(r)) for r in rows]
    ws.dispose()
    if json_:
        cli.print_json(versions)
        return
    if not versions:
        cli.out.print("no registered version yet")
        return
    table = _table("task", "scope", "v", "model", "status", "trained on", "by", "on",
                   title="registry history")
    for r in versions:
        table.add_row(r["task"], r["scope"], str(r["version"]), r["model_ref"], r["status"],
                      r["dataset_version"] or "", r["created_by"], r["created_at"][:10])
    cli.out.print(table)
    for r in versions:
        cli.out.print(f"{r['task']} {r['scope']} v{r['version']}: {_why(r)}", highlight=False)


@app.command("backfill")
def backfill(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    experiment: ExperimentOpt = None,
    cases: Annotated[str | None, typer.Option(
        "--cases", help="Case set id (default: the test set of the newest dataset version).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Re-score every registered version on a case set (default: the newest test set)."""
    from medselect.registry import backfill as run_backfill
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    spec, which = None, task
    if experiment is not None:
        from medselect.config import load_experiment

        loaded = load_experiment(experiment)
        spec, which = loaded.evaluation, loaded.task
    ws = Workspace.open(workspace)
    try:
        result = run_backfill(ws, which, case_set=cases, spec=spec)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(result.to_dict())
        return
    table = _table("model", "status", "cases", "mean", "evaluation",
                   title=f"registered versions on {result.case_set}")
    for o in [] if result.report is None else result.report.outcomes:
        value = "" if o.key_value is None else f"{o.key_metric} {o.key_value:.4g}"
        table.add_row(o.model_ref, o.status, f"{o.n_ok}/{o.n_cases}", value, o.evaluation_id)
    cli.out.print(table)
    for ref, why in result.skipped.items():
        cli.err.print(f"[yellow]skipped {ref}:[/] {why}", highlight=False)


def promote(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id (or external:<name>) to promote.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    scope: ScopeOpt = "global",
    experiment: ExperimentOpt = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Promote even if the gate rejects it (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why --force is used; recorded in the audit log.")] = None,
    actor: ActorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Promote RUN to champion of its task in a scope, always through the gate.

    The gate judges it on the frozen reference set against the champion (and earlier
    versions); missing evaluations there are computed first. It runs at the scope's next look
    at the reference set, its level divided by K when RUN is not the selection set's choice
    (it may then have been picked as the best of K models on the reference set). Exit 0 when
    promoted, 1 when not.
    """
    from medselect.config import load_experiment
    from medselect.registry import promote_through_gate, promotion_inputs
    from medselect.registry.retrain import ranking_spec
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    if force and not (reason or "").strip():
        abort("--force needs --reason TEXT: say in a sentence why the gate is overridden (it "
              "is recorded in the audit log)")
    if reason is not None and not force:
        abort("--reason goes with --force; leave it out to promote through the gate only")
    ws = Workspace.open(workspace)
    try:
        loaded = load_experiment(experiment) if experiment is not None else None
        task, criteria, spec = promotion_inputs(ws, run, loaded)
        outcome = promote_through_gate(
            ws, task, scope, run, criteria, actor=_actor(actor), spec=spec,
            ranking=None if loaded is None else ranking_spec(loaded),
            force_reason=reason if force else None)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(outcome.to_dict())
    else:
        print_promotion(cli, outcome)
    if not outcome.promoted:
        abort(outcome.decision.summary)


def rollback(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the audit log.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    scope: ScopeOpt = "global",
    actor: ActorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Make the previous champion of a scope the champion again.

    The current champion is marked rejected, so a later rollback never brings it back.
    """
    from medselect.registry import rollback as run_rollback
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    try:
        restored = run_rollback(ws, _one_task(ws, task), scope, _actor(actor), reason)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(_version_row(ws, restored))
        return
    cli.out.print(f"rolled back: {restored.model_ref} (v{restored.version}) is the champion of "
                  f"{restored.task} in {restored.scope} again")


@audit_app.command("verify")
def verify(ctx: typer.Context, workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
           json_: JsonOpt = False) -> None:
    """Check every event of the audit log against its hash and the one before it, then the
    registry's versions against what the log implies.

    Exit 1 naming the first bad event when an event was edited, deleted, inserted or moved, or
    naming every version whose row was edited, inserted or deleted outside medselect.
    """
    from medselect.registry import verify_registry
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        report = verify_registry(conn)
    ws.dispose()
    if json_:
        cli.print_json(report.to_dict())
    if report.differences:
        for difference in report.differences:
            cli.err.print(f"[red]differs:[/] {difference}", highlight=False)
        abort(f"the registry tables differ from the audit log in {len(report.differences)} "
              "version(s); restore them from the log or a backup")
    if not report.ok:
        abort(f"audit log broken at event {report.first_bad_seq}: {report.problem}")
    if not json_:
        head = (f"; newest event {report.head_seq}, hash {report.head_hash}"
                if report.head_seq else "")
        cli.out.print(f"audit log intact: {report.n_events} event(s){head}; the registry "
                      "tables match it", highlight=False)


def upgrade(
    ctx: typer.Context,
    experiment: Annotated[Path, typer.Argument(help="The experiment YAML file.")],
    data: Annotated[Path | None, typer.Option(
        "--data", help="The new cases: a CSV/JSON manifest or an nnU-Net raw folder.")] = None,
    reviewed: Annotated[list[str] | None, typer.Option(
        "--reviewed", help="A set of new cases (id or name; repeat for several) whose "
                           "reviewed cases join the training split: those with their own "
                           "label and those with a prediction reviewers accepted (`medselect "
                           "cases reviewed` lists them). Never the test or reference set.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    actor: ActorOpt = None,
    new_reference: Annotated[bool, typer.Option(
        "--new-reference", help="Replace the reference set by the new cases' never-seen test "
                                "patients (recorded in the audit log; every registered version "
                                "is evaluated on them and the error budget starts afresh).")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Add new cases, retrain, evaluate old and new models, and gate the result per scope.

    Each scope's candidate is chosen on the new version's validation split, then gated on the
    frozen reference set. Writes a decision report (JSON and HTML) under
    <workspace>/registry/decisions/. Exit 0 when a candidate was promoted in some scope, 1
    when none was.
    """
    from rich.live import Live

    from medselect.cli.sweep import executor_for, progress_table
    from medselect.config import load_experiment
    from medselect.registry import upgrade as run_upgrade
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    if data is None and not reviewed:
        abort("give the new cases: --data MANIFEST_OR_FOLDER, --reviewed CASE_SET, or both")
    loaded = load_experiment(experiment)
    exe = executor_for(loaded, executor, workers=workers, threads=threads, address=address)
    ws = Workspace.open(workspace)
    sets = _new_case_sets(ws, loaded.task.name, reviewed or ())
    options = {"executor": exe, "actor": _actor(actor), "new_reference": new_reference,
               "reviewed": sets}
    try:
        if json_:
            result = run_upgrade(ws, loaded, data, **options)
        else:
            with Live(console=cli.err, refresh_per_second=2, transient=True) as live:
                result = run_upgrade(
                    ws, loaded, data, on_step=lambda line: live.console.print(line),
                    on_progress=lambda s: live.update(progress_table(s)), **options)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(result.to_dict())
    else:
        _print_upgrade(cli, result)
    if not result.promoted:
        abort(result.summary)


def _new_case_sets(ws, task: str, names: list[str] | tuple[str, ...]) -> list[str]:
    """The ids of the sets of new cases ``names`` gives (ids or names)."""
    from medselect.evaluate.newcases import find_case_set

    with ws.connect() as conn:
        return [find_case_set(conn, task, name)["id"] for name in names]


def card(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    scope: ScopeOpt = "global",
    version: Annotated[int | None, typer.Option(
        "--version", min=1, help="Version number (default: the scope's champion).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for <task>-<scope>-v<N>.md and .html (default: "
                      "<workspace>/registry/cards/<task>/<scope>/).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Write the model card of a scope's champion: intended use, training configuration,
    figures per site with intervals and patients, the gate decision and the versions it beat,
    the worst cases, known limits. Markdown and HTML."""
    from medselect.registry import model_card, write_model_card
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    try:
        with ws.connect() as conn:
            content = model_card(conn, _one_task(ws, task), scope, version)
        paths = write_model_card(ws, content, out)
    finally:
        ws.dispose()
    if json_:
        cli.print_json({**content.to_dict(),
                        "files": {"markdown": str(paths[0]), "html": str(paths[1])}})
        return
    v = content.version
    cli.out.print(f"model card of {v.task} {v.scope} v{v.version} ({v.model_ref}, {v.status}): "
                  f"{paths[1]} (and .md); {len(content.limits)} known limit(s)", highlight=False)


def _one_task(ws: Workspace, task: str | None) -> str:
    """``task``, or the only task with registered versions."""
    from medselect.store import list_model_versions

    if task is not None:
        return task
    with ws.connect() as conn:
        names = sorted({v["task"] for v in list_model_versions(conn)})
    if len(names) != 1:
        abort(f"the registry holds tasks {', '.join(names) or 'none'}; name one with --task")
    return names[0]


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _version_row(ws: Workspace, version: ModelVersion) -> dict:
    """A version for printing: its fields, a short evidence summary and its report if any."""
    from medselect.registry.promotion import DECISIONS_DIR, report_name

    evidence = version.evidence or {}
    data = evidence.get("data") or {}
    page = ws.path(DECISIONS_DIR) / f"{report_name(version)}.html"
    return {**{k: v for k, v in version.to_dict().items() if k != "evidence"},
            "evidence": {"summary": evidence.get("summary"), "accepted": evidence.get("accepted"),
                         "n_cases": evidence.get("n_cases"),
                         "incumbents": evidence.get("incumbents"),
                         "reference_case_set": data.get("reference_case_set"),
                         "rolled_back": evidence.get("rolled_back")},
            "report": str(page) if page.is_file() else None}


def _why(row: dict) -> str:
    """Why a version has its status: a rollback, a forced promotion, or the gate's summary."""
    back = row["evidence"]["rolled_back"]
    if back:
        return f"rolled back by {back['by']} at {back['at'][:19]}: {back['reason']}"
    if row["reason"]:
        return f"forced: {row['reason']}"
    return row["evidence"]["summary"] or ""


def print_promotion(cli: CLIContext, outcome: PromotionOutcome) -> None:
    decision, version = outcome.decision, outcome.version
    data = decision.data
    cli.out.print(f"gate for [bold]{decision.candidate}[/] in task {data.get('task')}, scope "
                  f"{data.get('scope')}, on reference set {data.get('reference_case_set')} "
                  f"({decision.n_cases} cases)", highlight=False)
    if not outcome.first_version:
        look = decision.look
        cli.out.print(f"level {look.alpha:.3g}: {look.description}", highlight=False)
        if look.chosen_from > 1:
            cli.out.print(f"  the candidate was {look.chosen_on}", highlight=False)
    for r in decision.results:
        mark = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
        cli.out.print(f"  {mark} {r.name}: {r.explanation}", highlight=False)
    for note in decision.notes:
        cli.out.print(f"[yellow]note:[/] {note}", highlight=False)
    if outcome.first_version:
        cli.out.print(f"first version of scope {version.scope}: there is no champion to compare "
                      f"with, so only the absolute criteria (at least "
                      f"{decision.criteria.min_patients} patients) were checked",
                      highlight=False)
    if outcome.promoted:
        forced = " [red]FORCED past the gate[/] (reason in the audit log)" if outcome.forced else ""
        cli.out.print(f"[green]PROMOTED[/] {version.model_ref} is champion v{version.version} of "
                      f"{version.task} in {version.scope}{forced}", highlight=False)
    else:
        cli.out.print(f"[red]REJECTED[/] recorded as v{version.version} (rejected)",
                      highlight=False)
    cli.out.print(f"decision report: {outcome.report_paths[1]} (and .json)", highlight=False)
    if outcome.card_paths is not None:
        cli.out.print(f"model card: {outcome.card_paths[1]} (and .md)", highlight=False)


def _print_upgrade(cli: CLIContext, result: UpgradeResult) -> None:
    data = result.data
    cli.out.print(f"dataset version {data.version_id} ({len(data.new_cases)} new case(s), "
                  f"{len(data.new_test_cases)} new test case(s)) from {data.parent_id}; "
                  f"retrained {len(result.runs)} run(s), {len(result.candidates)} finished",
                  highlight=False)
    if result.refresh is not None:
        r = result.refresh
        cli.out.print(f"reference set refreshed: {r.old_case_set} replaced by {r.new_case_set} "
                      f"({r.n_patients} never-seen patients, {r.n_cases} cases); the error "
                      "budget starts afresh", highlight=False)
        for ref, why in r.skipped.items():
            cli.err.print(f"[yellow]not evaluated on the new reference set: {ref}:[/] {why}",
                          highlight=False)
    joined = [c for c in result.reviewed if c.record is not None]
    if result.reviewed:
        cli.out.print(f"reviewed cases: {len(joined)} joined the training split, "
                      f"{len(result.reviewed) - len(joined)} left out (`medselect cases "
                      "reviewed` says why); none can enter a test or reference set",
                      highlight=False)
    ranked_on = result.selection_case_set or "the reference set (no validation case)"
    cli.out.print(f"candidates ranked on {ranked_on}", highlight=False)
    primary = (result.criteria.get("primary") or {}).get("metric")
    table = _table("model", "reference", "new cases", "test set", "role",
                   title=f"mean {primary} per model")
    for f in result.figures:
        if f["metric"] == primary:
            table.add_row(f["model"], fmt_number(f["reference"]), fmt_number(f["new_test_cases"]),
                          fmt_number(f["test_set"]), f["role"])
    cli.out.print(table)
    for s in result.scopes:
        colour = "green" if s.status == "promoted" else "red"
        cli.out.print(f"[{colour}]{s.scope}: {s.status}[/] {s.message}", highlight=False)
    if result.report_paths:
        cli.out.print(f"upgrade report: {result.report_paths[1]} (and .json); per-scope decision "
                      f"reports beside it", highlight=False)


def _table(*columns: str, title: str | None = None) -> Table:
    """A light table whose cells wrap (ids and hashes are never cut short with an ellipsis)."""
    table = Table(box=box.SIMPLE_HEAD, title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table

