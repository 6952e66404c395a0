"""What a command needs from its surroundings: consoles, output mode, and the one way to fail."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, NoReturn

from rich.console import Console


class Abort(Exception):
    """Stop the command with exit code 1 after printing ``message``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def abort(message: str) -> NoReturn:
    """Fail the current command with a one-line message naming what to fix."""
    raise Abort(message)


@dataclass
class CLIContext:
    """Per-invocation state, passed explicitly (typer's ``ctx.obj``) instead of globals."""

    debug: bool = False
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))

    def print_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fmt_number(value: float | None) -> str:
    """A figure for a table cell: four significant digits, empty when there is none."""
    return "" if value is None else f"{value:.4g}"
