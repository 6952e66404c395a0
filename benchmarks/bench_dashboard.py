"""Benchmark of the dashboard at the issues' scale: 200 models x 2000 cases x 5 sites.

Fills a synthetic workspace straight through the store (no training: see
``medselect.testing.sample``; Dice and HD95 per class and their mean, 5 sites, one shared
overlay PNG; a frozen reference set and a registry history of one candidate per model and
scope, each recorded in the audit log), then times with FastAPI's TestClient: the leaderboard
API cold (bootstrap and paired tests computed) and warm (cached), the leaderboard page, the
model page and its gallery API, the case page, the comparison, the sites page (the task's
choice by site, cold and warm) and the registry page (its audit chain verified on every view).
Targets (warm): leaderboard API, sites page and registry page under 300 ms, model page under
500 ms.

Run: ``.venv/bin/python benchmarks/bench_dashboard.py [--models 200 --cases 2000 --repeat 5]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from medselect.dashboard import DashboardSettings, create_app
from medselect.registry import register_version
from medselect.store import Workspace, set_reference_case_set
from medselect.testing.sample import (
    CASE_SET,
    VERSION,
    build_sample_workspace,
    case_name,
    run_ref,
)

SITES = ("north", "south", "east", "west", "centre")
TARGETS_MS = {"leaderboard API (warm)": 300, "model page (warm)": 500,
              "sites page (warm)": 300, "registry page (warm)": 300}


def add_registry_history(ws: Workspace, n_models: int) -> int:
    """The test set frozen as the reference set and every model registered as a candidate in
    every scope (global and each site): one version and one audit event each; returns how
    many."""
    with ws.begin() as conn:
        set_reference_case_set(conn, VERSION, CASE_SET)
        for scope in ("global", *(f"site:{site}" for site in SITES)):
            for i in range(n_models):
                register_version(conn, "knee", scope, run_ref(i), actor="bench")
    return n_models * (1 + len(SITES))


def timed(client, url: str, repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` GETs of ``url`` (each must succeed)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append(1000 * (time.perf_counter() - start))
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        start = time.perf_counter()
        ws = build_sample_workspace(root, n_models=args.models, n_cases=args.cases,
                                    sites=SITES, overlays="shared")
        versions = add_registry_history(ws, args.models)
        print(f"workspace: {args.models} models x {args.cases} cases x {len(SITES)} sites, "
              f"{args.models * args.cases * 6:,} metric values, {versions} registry versions, "
              f"filled in {time.perf_counter() - start:.1f} s")
        settings = DashboardSettings(workspace=root, n_resamples=args.resamples)
        # addressed as a browser on this machine does: a loopback app refuses other Host names
        client = TestClient(create_app(settings, workspace=ws), base_url="http://127.0.0.1:8000")
        mid = run_ref(args.models // 2)
        urls = {
            "leaderboard API (cold)": ("/api/leaderboard", 1),
            "leaderboard API (warm)": ("/api/leaderboard", args.repeat),
            "significance API (warm)": ("/api/leaderboard/significance", args.repeat),
            "leaderboard hd95 worst 10% site (cold)": (
                "/api/leaderboard?metric=hd95&aggregate=p90&site=south", 1),
            "leaderboard page (warm)": ("/", args.repeat),
            "model page (warm)": (f"/models/{mid}", args.repeat),
            "model API (warm)": (f"/api/models/{mid}", args.repeat),
            "gallery API, sorted by hd95 (warm)": (f"/api/models/{mid}/cases?sort=hd95&page=3",
                                                   args.repeat),
            "case page (warm)": (f"/cases/{case_name(7)}", args.repeat),
            "compare page, top 2 (warm)": ("/compare", args.repeat),
            "sites page (cold)": ("/sites", 1),
            "sites page (warm)": ("/sites", args.repeat),
            "sites API (warm)": ("/api/sites", args.repeat),
            "registry page (warm)": ("/registry", args.repeat),
            "registry API (warm)": ("/api/registry", args.repeat),
        }
        print(f"{'request':42s} {'median ms':>10s} {'min ms':>8s} {'target':>8s}")
        for name, (url, repeat) in urls.items():
            times = timed(client, url, repeat)
            target = TARGETS_MS.get(name)
            verdict = "" if target is None else (
                f"{target:>5d} ms {'ok' if statistics.median(times) < target else 'MISSED'}")
            print(f"{name:42s} {statistics.median(times):10.1f} {min(times):8.1f} {verdict}")
        ws.dispose()


if __name__ == "__main__":
    main()
