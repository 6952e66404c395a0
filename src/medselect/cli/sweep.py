"""``medselect sweep``: train every configuration of an experiment, and watch it; with
cross-validation, ``finalize`` chooses a configuration and builds its model."""

from __future__ import annotations

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
from medselect.store import RunStatus

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
    """Train every configuration; finished runs are skipped, interrupted ones resume.

    Exit code 1 when a run failed or is left interrupted; runs an Optuna pruner stopped are
    counted as pruned and are no failure.
    """
    from medselect.config import load_experiment

    cli: CLIContext = ctx.obj
    loaded = load_experiment(experiment)
    outcome = train_sweep(
        cli, loaded, workspace, workers=workers, threads=threads,
        executor=executor, address=address, retry_failed=retry_failed, quiet=json_,
    )
    if json_:
        cli.print_json(outcome)
    counts = outcome["counts"]
    unfinished = (RunStatus.FAILED, RunStatus.INTERRUPTED)
    if any(counts.get(s) for s in unfinished):  # scripts must not read success
        left = [f"{counts[s]} run(s) {s}" for s in unfinished if counts.get(s)]
        again = ("a population is not resumed part-way: change sweep.seed to train a new one"
                 if loaded.sweep.strategy == "pbt" else "run the same command again to resume "
                 "interrupted runs, with --retry-failed to train failed ones again")
        abort(f"{' and '.join(left)} (finished runs are kept); `medselect runs list` shows "
              f"why; {again}")


@app.command("finalize")
def finalize(
    ctx: typer.Context,
    experiment: ExperimentArg,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    retry_failed: Annotated[bool, typer.Option(help="Train a failed refit again.")] = False,
    device: Annotated[
        str | None, typer.Option(help="Where fold runs are evaluated: cpu | cuda | cuda:N.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """With ranking.selection.folds: rank the configurations by cross-validation and build the
    chosen one's model (fold ensemble or refit).

    Evaluates every fold run on its held-out fold (reused when done), ranks the configurations
    on those out-of-fold cases with the experiment's ranking, and prints the CV leaderboard,
    each fold's mean, the chosen configuration and the final model's run id, which `medselect
    evaluate` and `medselect promote` then take like any run.
    """
    from medselect.cli.evaluate import evaluation_progress
    from medselect.config import load_experiment
    from medselect.registry.crossval import finalize_cv
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    loaded = load_experiment(experiment)
    if not loaded.ranking.selection.folds:
        abort(f"{experiment}: ranking.selection.folds is not set, so there is nothing to "
              "finalize; set it (e.g. 5) to select by cross-validation")
    exe = executor_for(loaded, executor, workers=workers, threads=threads, address=address)
    ws = Workspace.open(workspace)
    try:
        with evaluation_progress(cli, quiet=json_) as on_evaluation:
            result = finalize_cv(ws, loaded, executor=exe, retry_failed=retry_failed,
                                 device=device, on_evaluation=on_evaluation)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(result.to_dict())
    else:
        print_cv_selection(cli, result)
    if result.status != RunStatus.FINISHED:
        abort(f"the refit {result.model_ref} is {result.status}: {result.error}; "
              "--retry-failed trains it again")


def print_cv_selection(cli: CLIContext, result) -> None:
    """The CV leaderboard with cases, patients and CIs, each fold's mean, the choice and the
    final model."""
    from medselect.cli.context import fmt_number

    board = result.report.leaderboard
    means = result.fold_means
    folds = [str(k) for k in means.columns] if not means.empty else []
    table = Table("rank", "configuration", "architecture/loss/augmentation",
                  f"CV {board.metric}", "95% CI", "p vs best", "cases", "patients", "imputed",
                  *(f"fold {k}" for k in folds),
                  title=f"cross-validation ({result.folds} folds) on {result.dataset_version}: "
                        f"{board.metric} ({board.label}, {board.aggregate}, "
                        f"{board.direction.value} is better)")
    for row in board.rows:
        config = result.configurations[row.model]
        label = f"{config.architecture.value}/{config.loss.value}/{config.augmentation.value}"
        fold_values = ([fmt_number(means.loc[row.model].iloc[i]) for i in range(len(folds))]
                       if row.model in means.index else [""] * len(folds))
        table.add_row(
            str(row.rank), row.model + (" ✓" if row.model == board.best else ""), label,
            f"{row.aggregate:.4g}", f"[{row.ci_low:.4g}, {row.ci_high:.4g}]",
            "" if row.p_vs_best is None else f"{row.p_vs_best:.3g}",
            str(row.n_cases), str(row.n_patients), str(row.n_imputed), *fold_values,
        )
    cli.out.print(table)
    for model, missing in result.incomplete.items():
        cli.out.print(f"[yellow]note:[/] {model}: fold(s) {missing} have no finished run; "
                      f"their cases {board.missing_values}", highlight=False)
    if not board.ci_reliable:
        cli.out.print(f"[yellow]note:[/] {board.ci_note}")
    cli.out.print(f"chosen configuration: [bold]{result.chosen}[/] — {board.reason}")
    cli.out.print(f"final model ({result.final}): [bold]{result.model_ref}[/] "
                  f"({result.status}); next: `medselect evaluate` (test split), then "
                  f"`medselect promote {result.model_ref}`")


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
    statuses = (RunStatus.FINISHED, RunStatus.PRUNED, RunStatus.FAILED, RunStatus.RUNNING,
                RunStatus.INTERRUPTED, RunStatus.PENDING)
    table = Table("sweep", *statuses, "total")
    for name, counts in per_sweep.items():
        table.add_row(name, *(str(counts.get(s, 0)) for s in statuses), str(sum(counts.values())))
    cli.out.print(table)


@app.command("pareto")
def pareto(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    sweep: Annotated[str | None, typer.Option(help="Only this sweep's studies.")] = None,
    json_: JsonOpt = False,
) -> None:
    """The Pareto front of each Optuna study (strategy optuna): every run's objective values,
    the runs no other run beats on every objective marked; `medselect rank`'s Pareto view
    uses the same definition on evaluated metrics."""
    from medselect.config.search import PARAMETERS
    from medselect.store import Workspace
    from medselect.sweep.pareto import study_fronts

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    try:
        fronts = study_fronts(ws, sweep)
    finally:
        ws.dispose()
    if json_:
        cli.print_json([f.to_dict() for f in fronts])
        return
    if not fronts:
        abort(f"no Optuna study{f' of sweep {sweep!r}' if sweep else ''} in the workspace; "
              "run a sweep with strategy: optuna first")
    for front in fronts:
        table = Table("run", "trials", *(f"{o.metric} ({o.direction})" for o in front.objectives),
                      "on front", title=f"study {front.study}: {len(front.front)} of "
                                        f"{len(front.points)} runs on the Pareto front")
        for p in front.points:
            table.add_row(p.run_id, ", ".join(map(str, p.trials)),
                          *(f"{v:,.0f}" if o.metric == PARAMETERS else f"{v:.4g}"
                            for o, v in zip(front.objectives, p.values, strict=True)),
                          "✓" if p.on_front else "")
        cli.out.print(table)


def train_sweep(cli: CLIContext, experiment, workspace: Path, *, workers=None, threads=None,
                executor: str = "local", address=None, retry_failed=False, quiet=False) -> dict:
    """:func:`medselect.api.run_sweep` with a live progress table; its outcome as JSON."""
    from medselect.api import run_sweep
    from medselect.store import Workspace

    ws = Workspace.create(workspace)
    imported = []

    def announce(plan, data) -> None:
        imported.append((plan, data))
        if quiet:
            return
        cli.out.print(f"sweep [bold]{plan.name}[/] on {data.version_id}: "
                      f"{describe_plan(experiment, plan)} ({executor})")
        for warning in data.warnings if data.created else ():  # said once, at the import
            cli.err.print(f"[yellow]warning:[/] {warning.message}", highlight=False)

    options = {"executor": executor, "workers": workers, "threads": threads,
               "address": address, "retry_failed": retry_failed, "on_plan": announce}
    if quiet:
        snapshot = run_sweep(ws, experiment, **options)
    else:
        with Live(console=cli.out, refresh_per_second=2) as live:
            snapshot = run_sweep(ws, experiment, **options,
                                 on_progress=lambda s: live.update(progress_table(s)))
    if experiment.ranking.selection.folds and not quiet:
        cli.out.print("cross-validation: choose a configuration and build its model with "
                      "`medselect sweep finalize EXPERIMENT.yaml`")
    plan, data = imported[0]
    return {"sweep": plan.name, "dataset_version": data.version_id, "counts": snapshot.counts,
            "total": snapshot.total, "data_warnings": [w.to_dict() for w in data.warnings]}


def describe_plan(experiment, plan) -> str:
    """What the sweep will do, in words: its runs, its study's trials and budget, or its
    population."""
    sweep = experiment.sweep
    if sweep.strategy == "optuna":
        budget = [f"{sweep.n_trials} trials" if sweep.n_trials else "",
                  f"{sweep.timeout:g} s" if sweep.timeout else ""]
        return (f"Optuna study {plan.study.name} ({sweep.sampler.value} sampler, pruner "
                f"{sweep.pruner.kind.value}, budget {' or '.join(b for b in budget if b)}): "
                f"{plan.trials_done} trials done, {len(plan.to_train)} to resume")
    if sweep.strategy == "pbt":
        return (f"population {plan.population} of {len(plan.runs)} members under Ray Tune's "
                f"population-based training, exploit/explore every "
                f"{sweep.population.perturbation_interval} epochs: "
                f"{plan.count('finished')} already finished, {len(plan.to_train)} to train")
    folds = experiment.ranking.selection.folds
    what = (f"{len(plan.runs)} runs ({len(plan.runs) // folds} configurations x {folds} "
            f"folds of train + val)" if folds else f"{len(plan.runs)} configurations")
    return f"{what}, {plan.count('finished')} already finished, {len(plan.to_train)} to train"


def executor_for(experiment, executor: str, *, workers=None, threads=None, address=None):
    """:func:`medselect.api.make_sweep_executor`, its errors as ``--executor`` errors."""
    from medselect.api import make_sweep_executor
    from medselect.errors import ConfigError

    try:
        return make_sweep_executor(experiment, executor, workers=workers, threads=threads,
                                   address=address)
    except ConfigError as exc:
        abort(f"--{exc}")


def progress_table(snapshot) -> Table:
    """Runs done/failed/running, each running run's epoch and loss, and the ETA."""
    counts = snapshot.counts
    eta = f", ETA {snapshot.eta_s:.0f} s" if snapshot.eta_s else ""
    table = Table("run", "configuration", "epoch", "train loss", title=(
        f"{counts.get('finished', 0)} finished, {counts.get('pruned', 0)} pruned, "
        f"{counts.get('failed', 0)} failed, "
        f"{counts.get('running', 0)} running of {snapshot.total}{eta}"))
    for r in snapshot.running:
        epoch = f"{r.epoch}/{r.epochs}" if r.epoch is not None else f"starting/{r.epochs}"
        loss = f"{r.loss:.4f}" if r.loss is not None else ""
        table.add_row(r.run_id, r.label, epoch, loss)
    return table
