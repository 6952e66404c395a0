"""A small evaluated workspace (see ``medselect.dashboard.sample``) and clients on it.

``sample_ws`` is shared by a module's read-only tests; tests that write (reviews) use
``fresh_ws``. The sample: 3 finished runs (run-000 best and champion, run-002 worst and missing
its prediction for case-0011), 1 failed run (run-003), 12 test cases of 10 patients over sites
north and south, Dice and HD95 per class (femur, tibia) and their mean; no validation split and
no stored ranking section (the family's default rules choose on the test split itself).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import pytest

from medselect.dashboard import DashboardSettings, create_app
from medselect.dashboard.sample import build_sample_workspace
from medselect.store import Workspace

with warnings.catch_warnings():  # starlette warns that its TestClient still uses httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

RESAMPLES = 200
BASE_URL = "http://127.0.0.1:8000"


def settings_for(ws: Workspace, **extra) -> DashboardSettings:
    """Settings with a small bootstrap (``n_resamples=None``: the ranking rules' own)."""
    return DashboardSettings(**{"workspace": ws.root, "n_resamples": RESAMPLES, **extra})


def client_for(ws: Workspace, **extra) -> TestClient:
    """A client addressing the app as a browser on this machine does (``Host: 127.0.0.1``:
    a loopback app refuses other host names)."""
    return TestClient(create_app(settings_for(ws, **extra), workspace=ws),
                      base_url=BASE_URL)


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory) -> Iterator[Workspace]:
    ws = build_sample_workspace(tmp_path_factory.mktemp("dashboard") / "ws")
    yield ws
    ws.dispose()


@pytest.fixture
def fresh_ws(tmp_path) -> Iterator[Workspace]:
    ws = build_sample_workspace(tmp_path / "ws")
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def client(sample_ws) -> TestClient:
    return client_for(sample_ws)


@pytest.fixture
def fresh_client(fresh_ws) -> TestClient:
    return client_for(fresh_ws)


@pytest.fixture(scope="module")
def make_client() -> Callable[..., TestClient]:
    """``make_client(ws, **settings)``: a new client (own cookies) on an app for ``ws``."""
    return client_for
