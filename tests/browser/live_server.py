"""A real dashboard server in a subprocess, and Debian's Chromium launched by Playwright.

Shared by the browser tests (``conftest.py``) and the screenshot script (``screenshots.py``).
The server is ``medselect serve`` on 127.0.0.1 and a free port, exactly as a user starts it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STARTUP_S = 30.0
BROWSER_MARKS = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need Debian's Chromium at "
                       f"{CHROMIUM} (apt-get install chromium)"),
    pytest.mark.xdist_group("browser"),  # one server and one browser per module
]
"""A browser test module's ``pytestmark``."""


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(workspace: Path, port: int) -> list[str]:
    """``medselect serve`` for ``workspace`` on 127.0.0.1:``port``, not opening a browser."""
    from typer.main import get_command

    from medselect.cli.main import app

    command = [sys.executable, "-m", "medselect.cli", "serve", "--workspace", str(workspace),
               "--host", "127.0.0.1", "--port", str(port)]
    serve = get_command(app).commands["serve"]
    if any("--no-browser" in p.opts + p.secondary_opts for p in serve.params):
        command.append("--no-browser")
    return command


@contextlib.contextmanager
def live_server(workspace: Path, log: Path) -> Iterator[str]:
    """Run the dashboard of ``workspace`` until the block ends; yield its base URL.

    Its output goes to ``log``, which the error names when the server does not come up.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(serve_command(workspace, port), stdout=out,
                                   stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
        try:
            _wait_until_up(base_url, process, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard server exited with {process.returncode}; its "
                               f"output is in {log}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/api/case-sets", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the dashboard server did not answer at {base_url} within "
                       f"{STARTUP_S:.0f} s; its output is in {log}")


def launch_chromium(playwright):
    """Debian's Chromium, headless, with nothing that reaches the network on its own."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS)
