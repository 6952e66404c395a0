"""``medselect rank``: leaderboard with CIs, significance, rank stability and per-site choice."""

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
        Path | None, typer.Argument(help="Experiment YAML whose ranking: section to use.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    metric: Annotated[str | None, typer.Option(help="Metric to rank by, e.g. dice, hd95.")] = None,
    label: Annotated[str | None, typer.Option(help="Class name, or 'mean' (foreground).")] = None,
    agg: Annotated[
        str | None, typer.Option("--agg", help="mean | median | trimmed10 | p10 | ...")
    ] = None,
    by: Annotated[
        list[str] | None, typer.Option(help="Select per value of this attribute.")
    ] = None,
    prefer: Annotated[
        Path | None, typer.Option(help="YAML with a ranking: section (weights, constraints).")
    ] = None,
    cases: Annotated[str, typer.Option(help="test | reference | a case-set id")] = "test",
    task: Annotated[str | None, typer.Option(help="Task (default: the only one).")] = None,
    resamples: Annotated[int | None, typer.Option(min=1, help="Bootstrap resamples.")] = None,
    json_: JsonOpt = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print the leaderboard as CSV.")] = False,
) -> None:
    """Rank the evaluated models by any metric, with statistics and per-site selection."""
    from medselect.metrics import get_metric
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    for name in [metric] if metric else []:
        get_metric(name)  # an unknown name fails here, with a suggestion
    spec = _spec(experiment, prefer, metric=metric, label=label, aggregate=agg, by=by,
                 bootstrap_resamples=resamples)
    ws = Workspace.open(workspace)
    table, model_info, case_set = load_ranking_inputs(ws, task=task, cases=cases)
    report = rank_cases(table, spec, model_info)
    if json_:
        cli.print_json({"case_set": case_set, **report.to_dict()})
    elif csv:
        report.to_frame().to_csv(sys.stdout)
    else:
        print_report(cli, report, case_set)


def rank_cases(table, spec, model_info):
    """:func:`medselect.rank.rank_table` with every metric's direction and the set metrics."""
    from medselect.metrics import SET_METRICS, directions
    from medselect.rank import rank_table

    return rank_table(table, spec, directions(table["metric"]), model_info=model_info,
                      set_metrics=SET_METRICS)


def load_ranking_inputs(ws, *, task: str | None, cases: str):
    """The per-case table of a case set, per-model attributes for tie-breaks, the set's id."""
    import pandas as pd

    from medselect.evaluate import load_task, resolve_case_set
    from medselect.store import case_metric_table, list_runs

    spec = load_task(ws, task)
    case_set = resolve_case_set(ws, spec, cases)["id"]
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set=case_set)
        runs = list_runs(conn, task=spec.name)
    if table.empty:
        abort(f"no evaluations on case set {case_set!r}: run `medselect evaluate` first")
    info = pd.DataFrame(
        [{"model": r["id"], "parameters": r["n_parameters"],
          "architecture": r["config"]["architecture"]} for r in runs]
    ).set_index("model") if runs else None
    return table, info, case_set


def print_report(cli: CLIContext, report, case_set: str) -> None:
    """The leaderboard, then one site -> model table per selection."""
    board = report.leaderboard
    unit = f" ({board.label}, {board.aggregate}, {board.direction.value} is better)"
    table = Table("rank", "model", board.metric, "95% CI", "P(best)", "p vs best", "cases",
                  "imputed", title=f"leaderboard on {case_set}: {board.metric}{unit}")
    for row in board.rows:
        mark = " *" if row.in_best_group else ""
        table.add_row(
            str(row.rank), row.model + (" ✓" if row.model == board.best else ""),
            f"{row.aggregate:.4g}", f"[{row.ci_low:.4g}, {row.ci_high:.4g}]",
            f"{row.p_best:.2f}", "" if row.p_vs_best is None else f"{row.p_vs_best:.3g}{mark}",
            str(row.n_cases), str(row.n_imputed),
        )
    cli.out.print(table)
    cli.out.print(f"chosen: [bold]{board.best}[/] — {board.reason}")
    cli.out.print(f"* indistinguishable from the best ({len(board.best_group)} model(s)); "
                  f"missing predictions {board.missing_values}")
    if not board.ci_reliable:
        cli.out.print(f"[yellow]note:[/] {board.ci_note}")
    for note in board.notes:
        cli.out.print(f"[yellow]note:[/] {note}", highlight=False)
    for attribute, selection in report.selections.items():
        sel = Table(attribute, "model", board.metric, "95% CI", "runner-up", "margin",
                    "significant", "cases", title=f"best model per {attribute}")
        for c in (*selection.choices, selection.overall):
            sel.add_row(
                c.group, c.model or f"none ({c.reason})", fmt_number(c.aggregate),
                f"[{fmt_number(c.ci_low)}, {fmt_number(c.ci_high)}]"
                + ("" if c.ci_reliable else " ?"),
                c.runner_up or "", fmt_number(c.margin),
                {True: "yes", False: "no", None: ""}[c.win_significant], str(c.n_cases),
            )
        cli.out.print(sel)
        cli.out.print(selection.summary)


def _spec(experiment: Path | None, prefer: Path | None, **overrides):
    from medselect.config import RankingSpec, load_experiment

    spec = load_experiment(experiment).ranking if experiment else RankingSpec(metric="dice")
    if prefer:
        spec = _preference_file(prefer, spec)
    updates = {k: v for k, v in overrides.items() if v not in (None, [])}
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

