"""``medselect runs``: what each training run is, how it went, and why it failed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from medselect.cli.context import CLIContext
from medselect.cli.options import DEFAULT_WORKSPACE, JsonOpt, WorkspaceOpt

app = typer.Typer(help="Inspect training runs.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    sweep: Annotated[str | None, typer.Option(help="Only runs of this sweep.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Every run with its configuration, status, best validation metric and error; with
    cross-validation, each run's part (fold k/K, refit, ensemble of K)."""
    from medselect.config import stored_cv
    from medselect.store import Workspace, list_runs

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        runs = list_runs(conn, status=status, sweep=sweep)
    if json_:
        cli.print_json([{k: v for k, v in r.items() if k != "traceback"} for r in runs])
        return
    cvs = {r["id"]: stored_cv(r["config"]) for r in runs}
    cv_column = ("cross-validation",) if any(cvs.values()) else ()
    table = Table("run", "architecture", "loss", "augmentation", *cv_column, "status", "best",
                  "time", "error")
    for r in runs:
        c, cv = r["config"], cvs[r["id"]]
        table.add_row(
            r["id"], c["architecture"], c["loss"], c["augmentation"],
            *((cv.describe() if cv else "",) if cv_column else ()), r["status"],
            "" if r["best_metric"] is None else f"{r['best_metric']:.4f}",
            "" if r["duration_s"] is None else f"{r['duration_s']:.0f} s",
            (r["error"] or "")[:80],
        )
    cli.out.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (see `medselect runs list`).")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    json_: JsonOpt = False,
) -> None:
    """One run: configuration, augmentation contents, epochs, error and traceback."""
    from medselect.store import Workspace, get_epoch_metrics, get_run
    from medselect.sweep.jobs import EXPLOITS

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        run = get_run(conn, run_id)
        epochs = get_epoch_metrics(conn, run_id)
    if json_:
        cli.print_json(run | {"epochs": epochs})
        return
    cli.out.print(f"[bold]{run['id']}[/]  {run['status']}  sweep {run['sweep']}  "
                  f"data {run['dataset_version']}")
    config = Table("field", "value", title="configuration")
    for key, value in run["config"].items():
        config.add_row(key, str(value))
    details = dict(run["details"] or {})
    exploits = details.pop(EXPLOITS, [])
    for key, value in details.items():
        config.add_row(key, str(value))
    cli.out.print(config)
    if exploits:
        cli.out.print(_exploit_table(exploits))
    names = sorted({e["name"] for e in epochs})
    table = Table("epoch", *names, title="epochs")
    by_epoch: dict[int, dict[str, float | None]] = {}
    for e in epochs:
        by_epoch.setdefault(e["epoch"], {})[e["name"]] = e["value"]
    for epoch, values in sorted(by_epoch.items()):
        table.add_row(str(epoch), *(_fmt(values.get(n)) for n in names))
    cli.out.print(table)
    if run["error"]:
        cli.out.print(f"[red]error:[/] {run['error']}")
    if run["traceback"]:
        cli.out.print(run["traceback"], markup=False, highlight=False)


def _exploit_table(exploits: list[dict]) -> Table:
    """A population member's exploits: after which epoch it took which run's weights, and how
    its mutated values changed (its curve holds the learning rate and augmentation strength
    of every epoch)."""
    table = Table("after epoch", "weights of", "values", title="population-based training: "
                  "exploits")
    for event in exploits:
        names = sorted(set(event["from"]) | set(event["to"]))
        changes = "; ".join(f"{n} {_fmt(event['from'].get(n))} -> {_fmt(event['to'].get(n))}"
                            for n in names)
        table.add_row(str(event["epoch"]), f"{event['donor']} (epoch {event['donor_epoch']})",
                      changes)
    return table


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
