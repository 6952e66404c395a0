"""``medselect cases``: which patient and site each case is, the per-case table as a file, and
what new cases say before anyone labels them (input drift, output signals, the review queue,
the reviewed cases the next upgrade can train on)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from medselect.cli.context import CLIContext, abort
from medselect.cli.options import DEFAULT_WORKSPACE, JsonOpt, WorkspaceOpt

if TYPE_CHECKING:
    import pandas as pd

    from medselect.store import Workspace

app = typer.Typer(help="List a task's cases; export the per-case metric table; drift and "
                       "the review queue of new cases.", no_args_is_help=True)

TaskOpt = Annotated[
    str | None, typer.Option("--task", help="Task (default: the workspace's only task).")
]
NewCasesOpt = Annotated[str, typer.Option(
    "--case-set", help="The new cases: the case set id `medselect evaluate --cases PATH` "
                       "printed, or their name (the folder's name); val | test | reference "
                       "work too.")]
ALL_FEATURES = typer.Option("--all", help="Every feature and signal, not only those that moved.")
NOT_SHOWN = ("Drift says the inputs differ, not that a model fails there; p-values are per "
             "feature and site, uncorrected; with few patients the KS test cannot show drift.")


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"


@app.command("list")
def list_(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    case_set: Annotated[str | None, typer.Option(
        "--case-set", help="List this case set's members: val | test | reference | an id.")
    ] = None,
    version: Annotated[str | None, typer.Option(
        "--version", help="List this dataset version (default: the latest one trained on).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Every case with its patient, site, split, whether it is labelled and its attributes,
    then patients and cases per site and split."""
    from medselect.data import cases_by_site, task_cases

    cli: CLIContext = ctx.obj
    ws, name = _open(workspace, task)
    with ws.connect() as conn:
        cases = task_cases(conn, name, case_set=case_set, version=version)
    sites = cases_by_site(cases)
    if json_:
        cli.print_json({"task": name, "cases": _records(cases), "sites": _records(sites)})
        return
    which = (f"case set {case_set}" if case_set else f"dataset version {version}" if version
             else "the latest training version")
    cli.out.print(_table(cases, f"{len(cases)} cases of task {name}: {which}"))
    cli.out.print(_table(sites, "patients and cases per site and split"))


@app.command("export")
def export(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    case_set: Annotated[str | None, typer.Option(
        "--case-set", help="val | test | reference | an id (default: the confirmation set, "
                           "test unless the experiment's ranking says otherwise).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        help="Only this model (repeat for several); default every evaluated one.")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        help="Only this metric (repeat for several); default every stored one.")] = None,
    format_: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.CSV,
    out: Annotated[Path | None, typer.Option(
        help="File to write (default: standard output; parquet needs a file).")] = None,
) -> None:
    """The per-case metric table in long form: one row per model, case, metric and label with
    the case's patient, site, case set and attributes (challengeR's long format)."""
    from medselect.data import export_case_metrics

    cli: CLIContext = ctx.obj
    if format_ is ExportFormat.PARQUET:
        _require_pyarrow()
        if out is None:
            abort("--format parquet writes a binary file: give --out FILE")
    ws, name = _open(workspace, task)
    with ws.connect() as conn:
        table = export_case_metrics(conn, name, case_set=case_set, models=model or None,
                                    metrics=metric or None)
    if out is None:
        sys.stdout.write(_text(table, format_))
        return
    _write(table, format_, out)
    cli.out.print(f"Wrote {len(table)} rows ({table['model'].nunique()} models, "
                  f"{table['case_id'].nunique()} cases) to [bold]{out}[/]", highlight=False)


@app.command("drift")
def drift(
    ctx: typer.Context,
    case_set: NewCasesOpt,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    every: Annotated[bool, ALL_FEATURES] = False,
    json_: JsonOpt = False,
) -> None:
    """Per site of new cases: input drift (intensity, spacing and size against the same
    site's training cases) and output signals (the top models' predicted volumes, classes or
    landmark spread against the same models on the test split)."""
    from medselect.evaluate.newcases import find_case_set, input_drift, output_signals

    cli: CLIContext = ctx.obj
    ws, name = _open(workspace, task)
    with ws.connect() as conn:
        row = find_case_set(conn, name, case_set)
    inputs, outputs = input_drift(ws, name, row["id"]), output_signals(ws, name, row["id"])
    if json_:
        cli.print_json({"input_drift": inputs.to_dict(), "output_signals": outputs.to_dict(),
                        "not_shown": NOT_SHOWN})
        return
    drifting = "; ".join(f"{site}: {', '.join(found) or 'none'}"
                         for site, found in inputs.drifting.items())
    cli.out.print(_drift_table(inputs.table, every, "feature",
                               f"input drift of {row['id']} against the training split of "
                               f"{inputs.training_version}"))
    cli.out.print(f"drifting features: {drifting}", highlight=False)
    cli.out.print(_drift_table(outputs.table, every, "signal",
                               f"output signals of {', '.join(outputs.top.models)} on "
                               f"{row['id']} against {outputs.test_case_set}"))
    for note in (*inputs.notes, *outputs.notes, outputs.top.basis, NOT_SHOWN):
        cli.out.print(f"[dim]{note}[/]", highlight=False)


@app.command("review-queue")
def review_queue(
    ctx: typer.Context,
    case_set: NewCasesOpt,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N cases.")] = None,
    json_: JsonOpt = False,
) -> None:
    """New cases in "review first" order: those the indistinguishable top models disagree on
    most first; reviews are given in the dashboard's case page."""
    from medselect.evaluate.newcases import find_case_set
    from medselect.evaluate.newcases import review_queue as queue_of

    cli: CLIContext = ctx.obj
    ws, name = _open(workspace, task)
    with ws.connect() as conn:
        row = find_case_set(conn, name, case_set)
    queue = queue_of(ws, name, row["id"])
    entries = queue.entries[:limit]
    if json_:
        cli.print_json(queue.to_dict() | {"cases": [e.to_dict() for e in entries]})
        return
    table = Table(title=f"review first: {row['id']} ({len(queue.entries)} cases), by "
                        f"{queue.measure}")
    table.add_column("#")
    table.add_column("case", no_wrap=True)
    for column in ("patient", "site", "disagreement", "reviewed", "accepted"):
        table.add_column(column, overflow="fold")
    for i, e in enumerate(entries, 1):
        table.add_row(str(i), e.case_id, e.patient_id, e.site,
                      "" if e.score is None else f"{e.score:.3g}", str(e.reviewed),
                      str(e.accepted))
    cli.out.print(table)
    for note in (f"top models: {', '.join(queue.top.models)}: {queue.top.basis}", *queue.notes):
        cli.out.print(f"[dim]{note}[/]", highlight=False)


@app.command("reviewed")
def reviewed(
    ctx: typer.Context,
    case_set: NewCasesOpt,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Which cases of a set of new cases the next `medselect upgrade EXPERIMENT --reviewed
    CASE_SET` adds to the training split, with the label each brings (its own, or the
    prediction reviewers accepted), and why the others are left out. Changes nothing."""
    from medselect.errors import LeakageError
    from medselect.evaluate.newcases import find_case_set
    from medselect.registry.reviewed import check_reviewed_unseen, reviewed_cases

    cli: CLIContext = ctx.obj
    ws, name = _open(workspace, task)
    with ws.connect() as conn:
        row = find_case_set(conn, name, case_set)
    cases = reviewed_cases(ws, name, row["id"])
    try:
        check_reviewed_unseen(ws, name, cases)
        refused = None
    except LeakageError as exc:
        refused = str(exc)
    joining = sum(c.record is not None for c in cases)
    if json_:
        cli.print_json({"case_set": row["id"], "joining": joining, "refused": refused,
                        "cases": [c.to_dict() for c in cases]})
        return
    table = Table("case", "patient", "site", "verdicts", "joins training with", "left out because",
                  title=f"{row['id']}: {joining} of {len(cases)} cases would join the training "
                        "split of the next upgrade (never its test or reference set)")
    for c in cases:
        verdicts = ", ".join(f"{who}: {verdict} ({model})" for who, model, verdict in c.verdicts)
        table.add_row(c.case_id, c.patient_id, c.site, verdicts, c.label_source or "",
                      c.reason or "")
    cli.out.print(table)
    if refused:
        cli.err.print(f"[red]the upgrade would refuse them:[/] {refused}", highlight=False)
    elif joining:
        cli.out.print(f"add them: medselect upgrade EXPERIMENT.yaml --reviewed {row['id']}",
                      highlight=False)


def _drift_table(frame: pd.DataFrame, every: bool, what: str, title: str) -> Table:
    """The rows that drift (all with ``every``): effect size, KS and range, few columns."""
    shown = frame if every else frame[frame["drift"]]
    model = ["model"] if "model" in frame.columns else []
    table = Table(*model, "site", what, "ref mean±sd (n)", "new mean (n)", "std diff", "KS p",
                  "outside", *(["drift"] if every else []),
                  title=title + ("" if every else ": what drifts (--all: every row)"))
    for r in _records(shown):
        site = r["site"] if r["against"] == r["site"] else f"{r['site']} (vs {r['against']})"
        table.add_row(*(r[m] for m in model), site, r[what],
                      f"{_g(r['ref_mean'])}±{_g(r['ref_sd'])} ({r['n_ref']})",
                      f"{_g(r['new_mean'])} ({r['n_new']})", _g(r["std_diff"]),
                      _g(r["p_value"]), _g(r["outside"]),
                      *([_cell(r["drift"])] if every else []))
    return table


def _g(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _open(workspace: Path, task: str | None) -> tuple[Workspace, str]:
    """The workspace and the task's name: ``task``, or the workspace's only task."""
    from medselect.evaluate import load_task
    from medselect.store import Workspace

    ws = Workspace.open(workspace)
    return ws, load_task(ws, task).name


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        abort("--format parquet needs pyarrow: pip install 'medselect[parquet]'")


def _text(table: pd.DataFrame, format_: ExportFormat) -> str:
    if format_ is ExportFormat.CSV:
        return table.to_csv(index=False)
    import json

    return json.dumps(_records(table), indent=2) + "\n"


def _write(table: pd.DataFrame, format_: ExportFormat, out: Path) -> None:
    from medselect.store import atomic_path, atomic_write_text

    if format_ is ExportFormat.PARQUET:
        with atomic_path(out) as tmp:
            table.to_parquet(tmp, index=False)
    else:
        atomic_write_text(out, _text(table, format_))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: Python numbers, None for a missing value (not NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(*map(str, frame.columns), title=title)
    for row in _records(frame):
        table.add_row(*(_cell(value) for value in row.values()))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)
