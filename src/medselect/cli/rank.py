"""``medselect rank``: choose on the selection set, confirm on the test set, per site."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medselect.cli.context import CLIContext, abort, fmt_number
from medselect.cli.options import DEFAULT_WORKSPACE, JsonOpt, WorkspaceOpt


def rank(
    ctx: typer.Context,
    experiment: Annotated[
        Path | None, typer.Argument(help="Experiment YAML whose ranking: section to use "
                                         "(default: the one stored with the task).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    metric: Annotated[str | None, typer.Option(help="Metric to rank by, e.g. dice, hd95.")] = None,
    label: Annotated[str | None, typer.Option(help="Class name, or 'mean' (foreground).")] = None,
    agg: Annotated[
        str | None, typer.Option("--agg", help="mean | median | trimmed10 | p10 | ...")
    ] = None,
    unit: Annotated[
        str | None, typer.Option(help="What an aggregate weighs equally: case | patient.")
    ] = None,
    by: Annotated[
        list[str] | None, typer.Option(help="Select per value of this attribute.")
    ] = None,
    prefer: Annotated[
        Path | None, typer.Option(help="YAML with a ranking: section (weights, constraints).")
    ] = None,
    select_on: Annotated[str | None, typer.Option(
        help="Case set that chooses: val | test | reference | an id (default: the "
             "ranking's selection set, val).")] = None,
    confirm_on: Annotated[str | None, typer.Option(
        help="Case set that reports the chosen model (default: test).")] = None,
    cases: Annotated[str | None, typer.Option(
        help="Choose and report on this one case set (the figure is then bias-corrected).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Task (default: the only one).")] = None,
    resamples: Annotated[int | None, typer.Option(min=1, help="Bootstrap resamples.")] = None,
    json_: JsonOpt = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print the leaderboard as CSV.")] = False,
) -> None:
    """Choose a model on the selection set and confirm it on the test set, with patient-level
    statistics, equivalence and per-site choices."""
    from medselect.choose import choose_model, task_ranking
    from medselect.evaluate import load_task
    from medselect.metrics import get_metric
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    for name in [metric] if metric else []:
        get_metric(name)  # an unknown name fails here, with a suggestion
    ws = Workspace.open(workspace)
    task_spec = load_task(ws, task)
    with ws.connect() as conn:
        base = task_ranking(conn, task_spec.name)
        spec = _spec(base, experiment, prefer, metric=metric, label=label, aggregate=agg,
                     by=by, unit=unit, bootstrap_resamples=resamples)
        choice = choose_model(conn, task_spec.name, spec, selection=cases or select_on,
                              confirmation=cases or confirm_on)
    if json_:
        cli.print_json(choice.to_dict())
    elif csv:
        choice.report.to_frame().to_csv(sys.stdout)
    else:
        print_choice(cli, choice)


def print_choice(cli: CLIContext, choice) -> None:
    """The selection leaderboard, the confirmed figures, then one table per ``by``."""
    from medselect.choose import group_table

    board = choice.report.leaderboard
    where = "selection set" + (", also the confirmation set" if choice.same_set else "")
    unit = f"{board.label}, {board.aggregate}, {board.direction.value} is better"
    table = Table("rank", "model", board.metric, "95% CI", "P(best)", "standing", "p vs best",
                  "cases", "patients", "imputed",
                  title=f"{board.metric} ({unit}) on {choice.selection_set} ({where})")
    for row in board.rows:
        table.add_row(
            str(row.rank), row.model + (" ✓" if row.model == board.best else ""),
            f"{row.aggregate:.4g}", _interval(row.ci_low, row.ci_high), f"{row.p_best:.2f}",
            row.standing.value, "" if row.p_vs_best is None else f"{row.p_vs_best:.3g}",
            str(row.n_cases), str(row.n_patients), str(row.n_imputed),
        )
    cli.out.print(table)
    cli.out.print(f"chosen: [bold]{board.best}[/] — {board.reason}", highlight=False)
    if board.best in choice.models:
        cli.out.print(f"the chosen configuration's final model: [bold]{choice.chosen}[/] "
                      "(`medselect sweep finalize` builds it; it is what is confirmed and "
                      "promoted)", highlight=False)
    margin = "no margin" if board.margin is None else f"+/-{board.margin:g}"
    cli.out.print(f"standing: equivalent = shown within {margin} of the best (two one-sided "
                  f"tests); unresolved = not enough evidence to separate it from the best; "
                  f"worse = significantly worse ({board.statistics.test.value} on patients, "
                  f"Holm). {board.n_patients} patients, {board.n_cases} cases: "
                  f"{board.weighting}; intervals and tests resample patients.",
                  highlight=False)
    for note in (*filter(None, [board.ci_note]), *board.notes, *choice.notes):
        cli.out.print(f"[yellow]note:[/] {note}", highlight=False)
    for c in choice.confirmations:
        cli.out.print(_confirmation_line(c), highlight=False)
    for attribute in choice.report.selections:
        _print_groups(cli, group_table(choice, attribute), board.metric, choice)


def _print_groups(cli: CLIContext, table, metric: str, choice) -> None:
    """One ``by`` attribute's table (:func:`medselect.choose.group_table`, as the dashboard's
    sites page shows it), its verdict and notes."""
    sel = Table(table.attribute, "model", f"{metric} (selection)", "95% CI", "runner-up",
                "margin [95% CI]", "its standing", "p", "patients",
                f"{metric} (confirmation)", "95% CI", "patients",
                title=f"best model per {table.attribute}: chosen on {choice.selection_set}, "
                      f"confirmed on {choice.confirmation_set}")
    for row in (*table.rows, table.overall):
        c, conf = row.choice, row.confirmation
        sel.add_row(
            c.group, c.model or f"none ({c.reason})", fmt_number(c.aggregate),
            _interval(c.ci_low, c.ci_high) + ("" if c.ci_reliable else " ?"),
            c.runner_up or "",
            "" if c.margin is None else (f"{fmt_number(c.margin)} "
                                         f"{_interval(c.margin_ci_low, c.margin_ci_high)}"),
            c.runner_up_standing or "",
            "" if c.p_vs_runner_up is None else f"{c.p_vs_runner_up:.3g}",
            str(c.n_patients),
            fmt_number(conf.value) if conf else "",
            _interval(conf.ci_low, conf.ci_high) if conf else "",
            str(conf.n_patients) if conf else "",
        )
    cli.out.print(sel)
    cli.out.print(table.verdict, highlight=False)
    for row in table.rows:
        if row.thin:
            cli.out.print(f"[yellow]thin evidence:[/] {table.attribute} {row.group}: "
                          f"{row.thin}", highlight=False)
    for note in table.selection.notes:
        cli.out.print(f"[yellow]note:[/] {note}", highlight=False)


def _confirmation_line(c) -> str:
    measure = c.metric if c.aggregate == c.metric else f"{c.metric} {c.aggregate}"
    what = f"{c.model}: {measure} on {c.case_set}"
    if c.value is None:
        return f"confirmation of {what}: not available ({c.note})"
    figure = (f"{c.value:.4g} {_interval(c.ci_low, c.ci_high)} over {c.n_patients} patients "
              f"({c.n_cases} cases)")
    if not c.same_set:
        return f"confirmed: {what} = {figure}; these cases played no part in the choice"
    line = f"[yellow]same set:[/] {what} = {figure} is biased upwards by the choice"
    if c.corrected is not None:
        k = c.corrected
        line += (f"; bias-corrected ({k.method}): {k.corrected:.4g} "
                 f"{_interval(k.ci_low, k.ci_high)}")
    return line


def _interval(low: float | None, high: float | None) -> str:
    return f"[{fmt_number(low)}, {fmt_number(high)}]"


def _spec(base, experiment: Path | None, prefer: Path | None, **overrides):
    from medselect.config import RankingSpec, load_experiment

    spec = load_experiment(experiment).ranking if experiment else base
    if prefer:
        spec = _preference_file(prefer, spec)
    updates = {k: v for k, v in overrides.items() if v not in (None, [])}
    if "metric" in updates:  # one metric named on the command line replaces a weighted mix
        updates["weights"] = {}
    try:
        return RankingSpec.model_validate(spec.model_dump() | updates)
    except ValueError as exc:
        abort(f"ranking options: {exc}".splitlines()[0])


def _preference_file(path: Path, base):
    """A YAML file holding a ``ranking:`` section (or just its fields)."""
    import yaml
    from pydantic import ValidationError

    from medselect.config import RankingSpec
    from medselect.errors import ConfigError

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the preference file: {exc}") from exc
    if isinstance(data, dict) and "ranking" not in data and {"task", "data", "sweep"} & set(data):
        raise ConfigError(f"{path}: an experiment file without a ranking: section; add one or "
                          "give a file that holds only ranking fields")
    section = data.get("ranking", data) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: expected a mapping with ranking fields")
    try:
        return RankingSpec.model_validate(base.model_dump() | section)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: ranking.{field}: "
                          f"{first['msg'].removeprefix('Value error, ')}") from None

