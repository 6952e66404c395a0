"""One sample workspace, one live ``medselect serve`` and one Chromium for the browser tests.

The tests skip themselves when Chromium or Playwright is missing (see the test module). The
workspace (4 finished runs, 1 failed, 16 validation and 20 test cases over 2 sites, PNG
overlays, stored ranking rules whose zero Dice margin leaves the two equally good models
unresolved) is built once per session; each test gets a fresh page that fails the test on a
JavaScript error or on any request that leaves the machine (the dashboard must work offline).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from live_server import launch_chromium, live_server

from medselect.testing.sample import build_sample_workspace

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
N_MODELS, N_CASES, N_VAL_CASES = 4, 20, 16
RULES = {"metric": "dice", "by": ["site"], "equivalence": {"dice": 0.0}}
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="session")
def workspace_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "ws"
    build_sample_workspace(root, n_models=N_MODELS, n_cases=N_CASES, n_val_cases=N_VAL_CASES,
                           ranking=RULES).dispose()
    return root


@pytest.fixture(scope="session")
def base_url(workspace_root) -> Iterator[str]:
    with live_server(workspace_root, workspace_root.parent / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def served(base_url) -> tuple[str, ...]:
    """The servers a page may load from besides files (a module with its own servers
    overrides it)."""
    return (base_url,)


@pytest.fixture
def page(browser, served) -> Iterator[Page]:
    """A fresh page; JavaScript errors and requests beyond this machine fail the test."""
    context = browser.new_context(viewport=VIEWPORT)
    errors: list[str] = []
    outside: list[str] = []

    def local_only(route):
        url = route.request.url
        if url.startswith((*served, "file://", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", local_only)
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"requests beyond this machine: {outside}"


@pytest.fixture
def api(base_url) -> Callable[[str], dict]:
    """``api("/api/leaderboard?metric=hd95")``: the JSON answer of the server the test uses
    (a module with its own server overrides ``base_url``)."""
    def get(path: str) -> dict:
        with urllib.request.urlopen(base_url + path, timeout=10) as response:
            return json.load(response)
    return get


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, "name")``: the whole page to test-artifacts/screenshots/name.png
    (``full_page=False``: only the window)."""
    from screenshots import capture

    def take(page: Page, name: str, *, full_page: bool = True) -> Path:
        return capture(page, ARTIFACTS / f"{name}.png", full_page=full_page)
    return take
