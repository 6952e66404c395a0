"""The ``medselect`` command: global options and the command groups; no logic lives here."""

from __future__ import annotations

import os
import sys
import traceback

import typer

from medselect.cli import cases as cases_commands
from medselect.cli import data as data_commands
from medselect.cli import demo as demo_command
from medselect.cli import deploy as deploy_commands
from medselect.cli import evaluate as evaluate_command
from medselect.cli import rank as rank_command
from medselect.cli import registry as registry_commands
from medselect.cli import runs as runs_commands
from medselect.cli import serve as serve_commands
from medselect.cli import sweep as sweep_commands
from medselect.cli import workspace as workspace_commands
from medselect.cli.context import Abort, CLIContext
from medselect.errors import DatasetInvalid, MedselectError
from medselect.store.location import ENV_URL

app = typer.Typer(
    name="medselect",
    help="Train, evaluate, rank and promote medical-imaging models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_commands.app, name="data")
app.add_typer(sweep_commands.app, name="sweep")
app.add_typer(runs_commands.app, name="runs")
app.add_typer(cases_commands.app, name="cases")
app.add_typer(workspace_commands.app, name="workspace")
app.command("demo")(demo_command.demo)
app.command("rank")(rank_command.rank)
app.command("serve")(serve_commands.serve)
app.command("report")(serve_commands.report)
app.command("evaluate")(evaluate_command.evaluate)
app.add_typer(registry_commands.app, name="registry")
app.add_typer(registry_commands.audit_app, name="audit")
app.command("promote")(registry_commands.promote)
app.command("rollback")(registry_commands.rollback)
app.command("card")(registry_commands.card)
app.command("upgrade")(registry_commands.upgrade)
app.command("predict")(deploy_commands.predict)
app.command("export")(deploy_commands.export)


@app.callback()
def root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    db_url: str | None = typer.Option(
        None, "--db-url", envvar=ENV_URL, show_envvar=True,
        help="Database URL, e.g. postgresql+psycopg://USER@HOST/DB (default: the workspace's "
             "workspace.toml, else its SQLite file). Recorded in workspace.toml without the "
             "password; give that through PGPASSWORD or ~/.pgpass."),
) -> None:
    ctx.obj = CLIContext(debug=debug)
    if db_url:  # workspaces (and the worker processes this one starts) read it from here
        os.environ[ENV_URL] = db_url


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: exit 1 with one line for user errors, 2 for usage errors."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    given_url = os.environ.get(ENV_URL)
    try:
        code = app(args=args, standalone_mode=False)
    except Abort as exc:
        _fail(exc.message, debug)
    except DatasetInvalid as exc:  # every problem, one per line, not only the first
        _fail(f"{exc.source}: {len(exc.problems)} problem(s)", debug,
              [str(p) for p in exc.problems])
    except MedselectError as exc:
        _fail(exc.for_flags(), debug)
    except typer.Abort:
        _fail("aborted", debug)
    except OSError as exc:  # a file or folder the user named cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", debug)
    except KeyboardInterrupt:
        _fail("interrupted; finished work is kept, run the same command again to resume", debug)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors (exit 2) and other click exceptions
        exc.show()
        sys.exit(exc.exit_code)
    finally:  # --db-url holds for this command only (main runs many times in one test)
        _restore(ENV_URL, given_url)
    sys.exit(code if isinstance(code, int) else 0)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _fail(message: str, debug: bool, details: list[str] | None = None) -> None:
    if debug:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    for line in details or ():
        print(f"  - {line}", file=sys.stderr)
    sys.exit(1)
