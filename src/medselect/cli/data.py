"""``medselect data``: build dataset versions (phantom, manifest, nnU-Net) and check them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medselect.cli.context import CLIContext, abort
from medselect.cli.options import (
    DEFAULT_WORKSPACE,
    CaseInfoOpt,
    JsonOpt,
    PatientsOpt,
    SiteOpt,
    WorkspaceOpt,
)
from medselect.errors import as_flags

app = typer.Typer(help="Import, generate and check datasets.", no_args_is_help=True)


SourceArg = Annotated[
    Path, typer.Argument(help="A CSV/JSON manifest, or an nnU-Net raw dataset folder.")
]
TaskOpt = Annotated[
    str | None, typer.Option("--task", help="Task name (default: from the source).")
]
ClassesOpt = Annotated[
    str | None,
    typer.Option("--classes", help="Comma-separated class names, background first."),
]


@app.command("synth-knee")
def synth_knee(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the files (default: in the workspace).")
    ] = None,
    cases_per_site: Annotated[int, typer.Option(min=1, help="Patients per site.")] = 24,
    size: Annotated[int, typer.Option(min=16, help="Image side in pixels.")] = 128,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    task: Annotated[str, typer.Option("--task", help="Task name to import as.")] = "knee-seg",
    import_: Annotated[
        bool, typer.Option("--import/--no-import", help="Import as a dataset version.")
    ] = True,
    json_: JsonOpt = False,
) -> None:
    """Generate the multi-site knee MR phantom (deterministic) and import it."""
    from medselect.config import PhantomSource
    from medselect.data.sources import synth_phantom
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    ws = Workspace.create(workspace)
    folder = out or ws.path(f"sources/knee-phantom-{size}px-seed{seed}")
    spec = PhantomSource(cases_per_site=cases_per_site, size=size, seed=seed)
    source = synth_phantom(folder, spec)
    result = _import(ws, source, task=task, kind="segmentation") if import_ else None
    if json_:
        cli.print_json({"folder": str(folder), "import": result.to_dict() if result else None})
        return
    cli.out.print(f"Wrote the knee phantom to [bold]{folder}[/] (manifest.csv inside).")
    if result:
        print_import(cli, result)


SplitOpt = Annotated[
    str | None,
    typer.Option("--split", help="Patient fractions per split, e.g. train=0.7,val=0.1,test=0.2 "
                                 "(default as written)."),
]
SeedOpt = Annotated[int, typer.Option(min=0, help="Split seed.")]
HeldOutOpt = Annotated[
    str | None,
    typer.Option("--held-out-sites", help="Comma-separated sites no model trains on (external "
                                          "validation): their patients go to val and test only."),
]
KindOpt = Annotated[str, typer.Option(help="segmentation | landmarks | classification")]
DimsOpt = Annotated[
    int | None,
    typer.Option(min=2, max=3, help="2 or 3 (default: the source's dataset.json, else the "
                                    "first image; a (x, y, 1) volume is 2D)."),
]


@app.command("import")
def import_(
    ctx: typer.Context,
    source: SourceArg,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    kind: KindOpt = "segmentation",
    classes: ClassesOpt = None,
    spatial_dims: DimsOpt = None,
    patients: PatientsOpt = None,
    case_info: CaseInfoOpt = None,
    site: SiteOpt = None,
    split: SplitOpt = None,
    seed: SeedOpt = 0,
    held_out_sites: HeldOutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Import a manifest, an nnU-Net folder or a Decathlon/MONAI dataset.json as a new dataset
    version (all or nothing; every problem is listed)."""
    from medselect.api import import_data
    from medselect.errors import DatasetInvalid
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    ws = Workspace.create(workspace)
    try:
        result = import_data(ws, source, task=task, kind=kind, classes=_names(classes),
                             spatial_dims=spatial_dims, patients=patients, case_info=case_info,
                             site=site, split=_fractions(split), seed=seed,
                             held_out_sites=_names(held_out_sites) or ())
    except DatasetInvalid as exc:  # without --json, main prints every problem on stderr
        if not json_:
            raise
        _print_problems(cli, source, exc.problems, _n_cases(exc), json_=True)
    if json_:
        cli.print_json(result.to_dict())
    else:
        print_import(cli, result)


@app.command("check")
def check(
    ctx: typer.Context,
    source: SourceArg,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    kind: KindOpt = "segmentation",
    classes: ClassesOpt = None,
    spatial_dims: DimsOpt = None,
    patients: PatientsOpt = None,
    case_info: CaseInfoOpt = None,
    site: SiteOpt = None,
    split: SplitOpt = None,
    seed: SeedOpt = 0,
    held_out_sites: HeldOutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run exactly what `data import` runs, storing nothing: report every problem (exit 1 if
    any), else the split the import would make and its warnings."""
    from medselect.api import take_in_source
    from medselect.data.importer import plan_import
    from medselect.errors import DatasetInvalid, StoreError
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    try:
        ws = Workspace.open(workspace)
    except StoreError:  # no workspace yet: checked as the task's first version
        ws = None
    intake = take_in_source(ws, source, task=task, kind=kind, classes=_names(classes),
                            spatial_dims=spatial_dims, patients=patients, case_info=case_info,
                            site=site)
    try:
        plan = plan_import(ws, intake.task, intake.records,
                           split=_split_spec(split, seed, _names(held_out_sites) or ()),
                           problems=intake.problems, source=str(source))
    except DatasetInvalid as exc:
        _print_problems(cli, source, exc.problems, _n_cases(exc), json_=json_)
    by_site = {site: {"patients": c.patients, "cases": c.cases}
               for site, c in plan.counts.items()}
    if json_:
        cli.print_json({"cases": len(intake.records), "problems": [], "notes": intake.notes,
                        "sites": by_site, "warnings": [w.to_dict() for w in plan.warnings],
                        "splits": {r.case_id: r.split for r in plan.records}})
        return
    cli.out.print(f"{source}: {len(intake.records)} cases, no problems found. An import would make "
                  "this split:")
    _print_split(cli, {s: c["cases"] for s, c in by_site.items()},
                 {s: c["patients"] for s, c in by_site.items()})
    _print_notes(cli, intake.notes, plan.warnings)


@app.command("list")
def list_versions(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    json_: JsonOpt = False,
) -> None:
    """List the dataset versions of the workspace, newest last."""
    from medselect.store import Workspace, list_dataset_versions

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        versions = list_dataset_versions(conn)
    if json_:
        cli.print_json(versions)
        return
    table = Table("version", "task", "parent", "cases", "reference set", "created")
    for v in versions:
        table.add_row(v["id"], v["task"], v["parent_id"] or "", str(v["n_cases"]),
                      v["reference_case_set"] or "", f"{v['created_at']:%Y-%m-%d %H:%M}")
    cli.out.print(table)


def _import(ws, source, *, task: str, kind: str):
    """Import a generated ``source`` into the task (its stored definition wins)."""
    from medselect.data.importer import import_dataset
    from medselect.data.intake import TaskOptions, settle_task
    from medselect.data.tasks import stored_task

    with ws.connect() as conn:
        stored = stored_task(conn, task)
    spec, _ = settle_task(TaskOptions(task, kind), source, source.records, stored)
    return import_dataset(ws, spec, source.records, source=source.describe(),
                          description=f"{source.kind} {source.path.name}")


def _fractions(text: str | None) -> dict[str, float] | None:
    """``--split train=0.7,val=0.1,test=0.2`` as fractions (a split not named gets none)."""
    if not text:
        return None
    try:
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        return {k.strip(): float(v) for k, v in pairs}
    except ValueError as exc:  # a pair without '=', a number that is not one
        abort(f"--split {text!r}: {exc}; write e.g. train=0.7,val=0.1,test=0.2")


def _split_spec(text: str | None, seed: int, held_out_sites: Sequence[str]):
    """``--split``, ``--seed`` and ``--held-out-sites`` as a split spec."""
    from medselect.config import SplitSpec

    return SplitSpec.of(_fractions(text), seed, held_out_sites)


def _n_cases(exc) -> int:
    """Cases of a refused import: those read and those named only by a problem."""
    read = {r.case_id for r in exc.valid}
    return len(read | {p.case_id for p in exc.problems if p.case_id})


def _print_problems(cli: CLIContext, source: Path, problems, n_cases: int, *,
                    json_: bool) -> None:
    """Every problem (a table, or JSON with ``--json``), then exit 1."""
    if json_:
        cli.print_json({"cases": n_cases, "problems": [p.__dict__ for p in problems]})
    else:
        table = Table("case", "file", "problem", title=f"{source}: {len(problems)} problem(s)")
        for p in problems:
            table.add_row(p.case_id or "", p.file or "", p.message)
        cli.out.print(table)
    abort(f"{source}: {len(problems)} problem(s) in {n_cases} cases")


def _print_split(cli: CLIContext, counts, patients) -> None:
    """A site x split table of patients (cases)."""
    splits = ("train", "val", "test")
    table = Table("site", *splits, "total", title="patients (cases) per site and split")
    for site, cases in counts.items():
        per = patients.get(site, {})
        cells = [f"{per.get(s, 0)} ({cases.get(s, 0)})" for s in splits]
        table.add_row(site, *cells, f"{sum(per.values())} ({sum(cases.values())})")
    cli.out.print(table)


def _print_notes(cli: CLIContext, notes, warnings) -> None:
    for note in notes:
        cli.out.print(as_flags(note), highlight=False)
    for warning in warnings:
        cli.out.print(f"[yellow]warning:[/] {as_flags(warning.message)}", highlight=False)


def print_import(cli: CLIContext, result) -> None:
    """The version id, a site x split table of patients and cases, the case sets, what was
    decided for the user (``notes``) and a line per warning."""
    state = "new dataset version" if result.created else "already imported as"
    cli.out.print(f"{state} [bold]{result.version_id}[/] ({result.n_cases} cases"
                  + (f", parent {result.parent_id}" if result.parent_id else "") + ")")
    _print_split(cli, result.counts, result.patients)
    cli.out.print(f"validation set (selects the model): "
                  f"{result.val_case_set or 'none, no validation cases'}", highlight=False)
    cli.out.print(f"test set (confirms the choice): {result.test_case_set}", highlight=False)
    if result.reference_case_set:
        cli.out.print(f"frozen reference test set: {result.reference_case_set}")
    _print_notes(cli, result.notes, result.warnings)


def _names(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None
