"""``medselect sweep``: train every configuration of an experiment, and watch it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from medselect.cli.context import CLIContext, abort
from medselect.cli.options import (
    DEFAULT_WORKSPACE,
    AddressOpt,
    ExecutorOpt,
    JsonOpt,
    ThreadsOpt,
    WorkersOpt,
    WorkspaceOpt,
)

app = typer.Typer(help="Train sweeps of configurations.", no_args_is_help=True)

ExperimentArg = Annotated[Path, typer.Argument(help="The experiment YAML file.")]


@app.command("run")
def run(
    ctx: typer.Context,
    experiment: ExperimentArg,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    retry_failed: Annotated[bool, typer.Option(help="Train failed runs again.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Train every configuration; finished runs are skipped, interrupted ones resume."""
    from medselect.config import load_experiment

    cli: CLIContext = ctx.obj
    outcome = train_sweep(
        cli, load_experiment(experiment), workspace, workers=workers, threads=threads,
        executor=executor, address=address, retry_failed=retry_failed, quiet=json_,
    )
    if json_:
        cli.print_json(outcome)
    if outcome["counts"].get("failed"):
        abort(f"{outcome['counts']['failed']} run(s) failed (the others are kept); "
              "`medselect runs list` shows their errors, --retry-failed trains them again")


@app.command("status")
def status(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    sweep: Annotated[str | None, typer.Option(help="Only this sweep.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Runs per sweep and status."""
    from collections import Counter

    from medselect.store import Workspace, list_runs

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        runs = list_runs(conn, sweep=sweep)
    per_sweep: dict[str, Counter[str]] = {}
    for r in runs:
        per_sweep.setdefault(r["sweep"] or "", Counter())[r["status"]] += 1
    if json_:
        cli.print_json({name: dict(c) for name, c in per_sweep.items()})
        return
    statuses = ("finished", "failed", "running", "interrupted", "pending")
    table = Table("sweep", *statuses, "total")
    for name, counts in per_sweep.items():
        table.add_row(name, *(str(counts.get(s, 0)) for s in statuses), str(sum(counts.values())))
    cli.out.print(table)


def train_sweep(cli: CLIContext, experiment, workspace: Path, *, workers=None, threads=None,
                executor: str = "local", address=None, retry_failed=False, quiet=False) -> dict:
    """Import the experiment's data, plan the sweep and train it with a live progress table."""
    from medselect.data.importer import import_experiment_data
    from medselect.store import Workspace
    from medselect.sweep import plan_sweep, run_sweep

    ws = Workspace.create(workspace)
    data = import_experiment_data(ws, experiment)
    plan = plan_sweep(ws, experiment, data.version_id, retry_failed=retry_failed)
    exe, workers, threads = executor_for(experiment, executor, workers=workers, threads=threads,
                                         address=address)
    if not quiet:
        cli.out.print(
            f"sweep [bold]{plan.name}[/] on {data.version_id}: {len(plan.runs)} configurations, "
            f"{plan.count('finished')} already finished, {len(plan.to_train)} to train "
            f"({executor}, {workers} worker(s) x {threads} thread(s))"
        )
    if quiet or not plan.to_train:
        snapshot = run_sweep(ws, plan, exe)
    else:
        with Live(console=cli.out, refresh_per_second=2) as live:
            snapshot = run_sweep(
                ws, plan, exe, on_progress=lambda s: live.update(progress_table(s))
            )
    return {"sweep": plan.name, "dataset_version": data.version_id,
            "counts": snapshot.counts, "total": snapshot.total}


def executor_for(experiment, executor: str, *, workers=None, threads=None, address=None):
    """The executor the options ask for, with the experiment's workers and threads as defaults
    (threads: the CPUs shared out between the workers); ``(executor, workers, threads)``."""
    from medselect.sweep import make_executor

    workers = workers or experiment.sweep.workers
    threads = (threads or experiment.sweep.threads_per_worker
               or max(1, (os.cpu_count() or 1) // workers))
    try:
        return make_executor(executor, workers=workers, threads=threads,
                             address=address), workers, threads
    except ValueError as exc:
        abort(f"--executor: {exc}")


def progress_table(snapshot) -> Table:
    """Runs done/failed/running, each running run's epoch and loss, and the ETA."""
    counts = snapshot.counts
    eta = f", ETA {snapshot.eta_s:.0f} s" if snapshot.eta_s else ""
    table = Table("run", "configuration", "epoch", "train loss", title=(
        f"{counts.get('finished', 0)} finished, {counts.get('failed', 0)} failed, "
        f"{counts.get('running', 0)} running of {snapshot.total}{eta}"))
    for r in snapshot.running:
        epoch = f"{r.epoch}/{r.epochs}" if r.epoch is not None else f"starting/{r.epochs}"
        loss = f"{r.loss:.4f}" if r.loss is not None else ""
        table.add_row(r.run_id, r.label, epoch, loss)
    return table
