"""``medselect data``: build dataset versions (phantom, manifest, nnU-Net) and check them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medselect.cli.context import CLIContext, abort
from medselect.cli.options import DEFAULT_WORKSPACE, JsonOpt, WorkspaceOpt

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


@app.command("import")
def import_(
    ctx: typer.Context,
    source: SourceArg,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    task: TaskOpt = None,
    kind: Annotated[
        str, typer.Option(help="segmentation | landmarks | classification")
    ] = "segmentation",
    classes: ClassesOpt = None,
    spatial_dims: Annotated[int | None, typer.Option(min=2, max=3)] = None,
    seed: Annotated[int, typer.Option(min=0, help="Split seed.")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Import a manifest or an nnU-Net folder as a new dataset version (all or nothing)."""
    from medselect.data.sources import read_source
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    data = read_source(source)
    ws = Workspace.create(workspace)
    result = _import(
        ws, data, task=task or _slug(source), kind=kind, split_seed=seed,
        classes=_names(classes), spatial_dims=spatial_dims,
    )
    if json_:
        cli.print_json(result.to_dict())
    else:
        print_import(cli, result)


@app.command("check")
def check(
    ctx: typer.Context,
    source: SourceArg,
    classes: ClassesOpt = None,
    spatial_dims: Annotated[int | None, typer.Option(min=2, max=3)] = None,
    json_: JsonOpt = False,
) -> None:
    """Read every case of a source and report every problem at once (exit 1 if any)."""
    from medselect.data.check import check_dataset
    from medselect.data.sources import read_source
    from medselect.errors import DatasetInvalid

    cli: CLIContext = ctx.obj
    try:
        data = read_source(source)
        n_cases = len(data.records)
        problems = check_dataset(
            data.records, _names(classes) or data.classes or None, spatial_dims=spatial_dims
        )
    except DatasetInvalid as exc:  # the source is malformed: report that and check the rest
        n_cases = len(exc.valid) + len({p.case_id for p in exc.problems if p.case_id})
        problems = exc.problems + check_dataset(
            exc.valid, _names(classes), spatial_dims=spatial_dims
        )
    if json_:
        cli.print_json({"cases": n_cases, "problems": [p.__dict__ for p in problems]})
    elif problems:
        table = Table("case", "file", "problem", title=f"{source}: {len(problems)} problem(s)")
        for p in problems:
            table.add_row(p.case_id or "", p.file or "", p.message)
        cli.out.print(table)
    else:
        cli.out.print(f"{source}: {n_cases} cases, no problems found.")
    if problems:
        abort(f"{source}: {len(problems)} problem(s) in {n_cases} cases")


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


def _import(ws, source, *, task: str, kind: str, split_seed: int = 0, classes=None,
            spatial_dims=None):
    """Import ``source`` into the task (its stored definition wins over options)."""
    from medselect.config import SplitSpec, TaskSpec
    from medselect.data.importer import import_dataset
    from medselect.errors import NotFound
    from medselect.store import get_task

    with ws.connect() as conn:
        try:
            spec = TaskSpec.model_validate(get_task(conn, task)["config"])
        except NotFound:
            classes = classes or source.classes
            if kind != "landmarks" and not classes:
                abort(f"task {task!r} is new: give its --classes (comma-separated, background "
                      "first for segmentation) so label values can be checked")
            spec = _task_spec(TaskSpec, name=task, kind=kind, classes=classes,
                              landmarks=source.landmarks, spatial_dims=spatial_dims or 2)
    return import_dataset(
        ws, spec, source.records, split=SplitSpec(seed=split_seed),
        source=source.describe(), description=f"{source.kind} {source.path.name}",
    )


def _task_spec(model, **fields):
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "task"
        abort(f"--{field.replace('_', '-')}: {first['msg'].removeprefix('Value error, ')}")


def print_import(cli: CLIContext, result) -> None:
    """The version id, a site x split table of patients and cases, the case sets, and a
    warning line per site the split leaves without training patients or with too few test
    patients."""
    state = "new dataset version" if result.created else "already imported as"
    cli.out.print(f"{state} [bold]{result.version_id}[/] ({result.n_cases} cases"
                  + (f", parent {result.parent_id}" if result.parent_id else "") + ")")
    splits = ("train", "val", "test")
    table = Table("site", *splits, "total", title="patients (cases) per site and split")
    for site, cases in result.counts.items():
        patients = result.patients.get(site, {})
        cells = [f"{patients.get(s, 0)} ({cases.get(s, 0)})" for s in splits]
        total = f"{sum(patients.values())} ({sum(cases.values())})"
        table.add_row(site, *cells, total)
    cli.out.print(table)
    cli.out.print(f"validation set (selects the model): "
                  f"{result.val_case_set or 'none, no validation cases'}", highlight=False)
    cli.out.print(f"test set (confirms the choice): {result.test_case_set}", highlight=False)
    if result.reference_case_set:
        cli.out.print(f"frozen reference test set: {result.reference_case_set}")
    for warning in result.warnings:
        cli.out.print(f"[yellow]warning:[/] {warning.message}", highlight=False)


def _slug(path: Path) -> str:
    name = path.stem if path.is_file() else path.name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()) or "task"


def _names(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None
