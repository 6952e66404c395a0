"""A small evaluated workspace (see ``medselect.testing.sample``) and clients on it.

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
from medselect.data.casesets import NEW_CASES_SOURCE
from medselect.store import (
    Workspace,
    add_case_set,
    add_dataset_version,
    put_evaluation,
    replace_case_metrics,
    replace_predictions,
)
from medselect.testing.sample import build_sample_workspace

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


@pytest.fixture(scope="session")
def new_cases() -> Callable[..., str]:
    """``new_cases(ws, name, labelled=..., n_cases=1)``: see :func:`add_new_cases`."""
    return add_new_cases


def add_new_cases(ws: Workspace, name: str, *, labelled: bool, n_cases: int = 1,
                  models: tuple[str, ...] = ("run-000", "run-001", "run-002")) -> str:
    """A case set of new cases (kind ``new``, as an upload stores it) evaluated by ``models``,
    with Dice values when ``labelled``; returns its id."""
    version = f"dv-{name}"
    cases = [f"{name}-{i}" for i in range(n_cases)]
    with ws.begin() as conn:
        add_dataset_version(conn, {"id": version, "task": "knee", "description": name,
                                   "source": {"kind": NEW_CASES_SOURCE, "name": name}}, [
            {"case_id": c, "patient_id": c, "site": "upload", "split": "test",
             "image_uris": [f"images/{c}.png"], "label_uri": f"labels/{c}.png" if labelled
             else None, "content_hash": f"h-{c}"} for c in cases])
        case_set = add_case_set(conn, {"id": f"{version}-new", "name": name, "task": "knee",
                                       "dataset_version": version, "kind": "new"}, cases)["id"]
        for ref in models:
            evaluation = f"ev-{ref}-{name}"
            put_evaluation(conn, {"id": evaluation, "model_ref": ref, "case_set": case_set,
                                  "dataset_version": version, "status": "finished"})
            if labelled:
                replace_case_metrics(conn, evaluation, [
                    {"case_id": c, "metric": "dice", "label": "mean", "value": 0.8}
                    for c in cases])
            replace_predictions(conn, evaluation, [{"case_id": c, "status": "ok"}
                                                   for c in cases])
    return case_set
