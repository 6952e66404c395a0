"""``medselect demo``: the whole journey on the built-in multi-site knee MR phantom."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import typer

from medselect.cli.context import CLIContext
from medselect.cli.options import DEFAULT_WORKSPACE, WorkspaceOpt


class DemoTask(StrEnum):
    """The task kinds ``medselect demo`` has an experiment for."""

    SEGMENTATION = "segmentation"
    LANDMARKS = "landmarks"
    SEG3D = "seg3d"
    CLASSIFICATION = "classification"


def demo(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    workers: Annotated[int, typer.Option(min=1, help="Runs trained at once.")] = 2,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="End by serving the dashboard.")
    ] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port.")] = 8000,
    task: Annotated[
        DemoTask, typer.Option(help="Task kind the demo trains and selects models for.")
    ] = DemoTask.SEGMENTATION,
    quick: Annotated[bool, typer.Option(
        "--quick", help="A one-minute look: 32x32 images, 8 cases per site, 2 epochs "
                        "(as its own task, <name>-quick).")] = False,
) -> None:
    """Phantom data -> sweep -> evaluation -> ranking -> champions (global and per site) ->
    routed prediction of new patients -> dashboard."""
    from medselect.choose import choose_model, group_table
    from medselect.cli.data import print_import
    from medselect.cli.evaluate import case_set_roles, evaluation_progress, print_evaluations
    from medselect.cli.rank import print_choice
    from medselect.cli.serve import run_server
    from medselect.cli.sweep import train_sweep
    from medselect.config import (
        default_classification_experiment,
        default_demo_experiment,
        default_landmarks_experiment,
        default_seg3d_experiment,
    )
    from medselect.dashboard import export_static
    from medselect.data.importer import import_experiment_data
    from medselect.evaluate import evaluate_runs_on_sets
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    started = time.perf_counter()
    experiment = {DemoTask.SEGMENTATION: default_demo_experiment,
                  DemoTask.LANDMARKS: default_landmarks_experiment,
                  DemoTask.SEG3D: default_seg3d_experiment,
                  DemoTask.CLASSIFICATION: default_classification_experiment}[task]()
    if quick:
        _shrink(experiment)
    ws = Workspace.create(workspace)

    cli.out.rule("1. data: multi-site knee MR phantom")
    print_import(cli, import_experiment_data(ws, experiment))

    cli.out.rule(f"2. sweep: {len(experiment.sweep.configs)} configurations")
    train_sweep(cli, experiment, ws.root, workers=workers, threads=1)

    listed = ", ".join(str(c) for c in experiment.evaluation.case_sets)
    cli.out.rule(f"3. evaluation: every model on every case of {listed}")
    with evaluation_progress(cli, quiet=False) as on_progress:
        reports = evaluate_runs_on_sets(ws, task=experiment.task, spec=experiment.evaluation,
                                        on_progress=on_progress)
    print_evaluations(cli, reports, ws.root, case_set_roles(experiment.ranking))

    cli.out.rule(f"4. ranking by {experiment.ranking.metric}: chosen on the selection set, "
                 "confirmed on the test set, per site")
    with ws.connect() as conn:
        choice = choose_model(conn, experiment.task.name, experiment.ranking)
    print_choice(cli, choice)

    cli.out.rule("5. registry: promote the chosen model, and each site's own where it is "
                 "better there, through the gate")
    _promote(cli, ws, experiment, "global", choice.chosen)
    sites = group_table(choice, "site").own_models(experiment.ranking.alpha)
    if not sites:
        cli.out.print("no site has a model significantly better than the global choice on its "
                      "selection patients: every site is served by the global champion")
    for site in sites:
        _promote(cli, ws, experiment, f"site:{site.group}", site.model)

    cli.out.rule("6. predict: new patients, each case routed to its site's champion")
    _predict_new_patients(cli, ws, experiment, [s.group for s in sites])

    cli.out.rule("7. dashboard")
    index = export_static(ws, ws.path("report"))
    cli.out.print(f"static report: [bold]{index}[/]")
    cli.out.print(f"workspace: [bold]{ws.root}[/] (medselect.db, data/, runs/, evaluations/)")
    cli.out.print(f"demo wall time: {time.perf_counter() - started:.0f} s")
    ws.dispose()
    if serve:
        run_server(cli, ws.root, host="127.0.0.1", port=port)


def _promote(cli: CLIContext, ws, experiment, scope: str, model_ref: str) -> None:
    """Gate a choice in ``scope`` on the reference set; a demo run again keeps its champion."""
    from medselect.cli.registry import print_promotion
    from medselect.errors import RegistryError
    from medselect.registry import GateCriteria, promote_through_gate

    try:
        outcome = promote_through_gate(
            ws, experiment.task, scope, model_ref, GateCriteria.from_spec(experiment.promotion),
            actor="medselect demo", spec=experiment.evaluation, ranking=experiment.ranking,
        )
    except RegistryError as exc:
        cli.out.print(f"not promoted: {exc}")
        return
    print_promotion(cli, outcome)


def _predict_new_patients(cli: CLIContext, ws, experiment, own_sites: list[str]) -> None:
    """``medselect predict --scope auto`` on phantom patients never seen before (numbered after
    the dataset's own) of the sites with their own champion and of one served by the global
    champion, so the routing shows both ways."""
    from medselect.cli.deploy import print_predictions
    from medselect.data.phantom import synth_knee_dataset
    from medselect.data.phantom_sites import DEFAULT_SITES
    from medselect.deploy import predict_cases
    from medselect.errors import RegistryError

    source = experiment.data.source
    names = list(source.sites) if isinstance(source.sites, list) else [
        s.name for s in DEFAULT_SITES[:source.sites]]
    wanted = [*own_sites, *[n for n in names if n not in own_sites][:1]]  # one served globally
    sites = [s for s in DEFAULT_SITES if s.name in wanted]
    folder = ws.path("new-patients")
    synth_knee_dataset(folder, cases_per_site=2, sites=sites, size=source.size,
                       seed=source.seed, spatial_dims=source.spatial_dims or 2,
                       first_patient=_NEW_PATIENTS)
    cli.out.print(f"{2 * len(sites)} cases of new patients of {', '.join(wanted)}: "
                  f"{folder / 'manifest.csv'}", highlight=False)
    try:
        report = predict_cases(ws, folder / "manifest.csv", ws.path("predictions"),
                               task=experiment.task)
    except RegistryError as exc:
        cli.out.print(f"not predicted: {exc}", highlight=False)
        return
    print_predictions(cli, report)


_NEW_PATIENTS = 1000
"""The demo's new patients are numbered from here, beyond every patient of its dataset."""


def _shrink(experiment) -> None:
    """The demo experiment at a size that trains in seconds (a separate task, so a full demo
    in the same workspace keeps its own dataset and reference set)."""
    from medselect.config import SplitFractions

    experiment.task.name = f"{experiment.task.name}-quick"
    experiment.data.source.cases_per_site = 8
    # a held-out site: 6 cases, 4 patients, the fewest that give it 2 val and 2 test patients;
    # the other sites 60/20/20 as they were before the held-out site, so the quick demo
    # evaluates no more cases than then
    experiment.data.source.site_cases = {site: 6 for site in experiment.data.split.held_out_sites}
    if experiment.data.split.held_out_sites:
        experiment.data.split.fractions = SplitFractions(train=0.6, val=0.2, test=0.2)
    experiment.data.source.size = 32
    experiment.sweep.space.input_size = [(32, 32, 16)[:experiment.task.spatial_dims]]
    experiment.sweep.space.epochs = [2]
    # about 14 training cases: a batch must fit (the classification demo's is 16)
    experiment.sweep.space.batch_size = [min(b, 8) for b in experiment.sweep.space.batch_size]
