"""Benchmark of the dashboard at the issues' scale: 200 models x 2000 cases x 5 sites.

Fills a synthetic workspace straight through the store (no training: see
``medselect.testing.sample``; Dice and HD95 per class and their mean, 5 sites, one shared
overlay PNG; a frozen reference set and a registry history of one candidate per model and
scope, each recorded in the audit log), then times requests with FastAPI's TestClient.

Cold rows are timed on a new app each time (the server just started: empty caches; the
database file is in the OS's cache, as after a restart): the first leaderboard (the task's
choice, bootstrap and paired tests, and the other metrics' column), then a metric, aggregate
and site not viewed before on that app (HD95, its worst 10% = p90, one site). Warm rows repeat
a request on one app. Each row is the median of its repetitions, with the CPU time the process
spent (less noisy than wall time on a shared machine) and the load average when it ended.
Targets (issue 19): first leaderboard <= 1 s, a board not viewed before <= 0.5 s, compare page
<= 150 ms; warm: leaderboard API, sites page and registry page under 300 ms, model page under
500 ms. Browser timings are in ``bench_pages.py``.

Run: ``.venv/bin/python benchmarks/bench_dashboard.py [--models 200 --cases 2000 --repeat 5]``
"""

from __future__ import annotations

import argparse
import os
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
TARGETS_MS = {"leaderboard API, first after start (cold)": 1000,
              "leaderboard hd95 worst 10% site (cold)": 500,
              "leaderboard API (warm)": 300, "model page (warm)": 500,
              "compare page, top 2 (warm)": 150,
              "sites page (warm)": 300, "registry page (warm)": 300}
COLD = {
    "leaderboard API, first after start (cold)": ["/api/leaderboard"],
    "leaderboard hd95 worst 10% site (cold)": [
        "/api/leaderboard", "/api/leaderboard?metric=hd95&aggregate=p90&site=south"],
    "compare page, top 2 (cold)": ["/api/leaderboard", "/compare"],
    "sites page (cold)": ["/sites"],
}
"""Cold rows: the requests made on a new app, the last one timed (the others are what a user
has viewed before it)."""


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


def timed(client, url: str, repeat: int) -> list[tuple[float, float]]:
    """(wall, CPU) milliseconds of each of ``repeat`` GETs of ``url`` (each must succeed)."""
    times = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((1000 * (time.perf_counter() - start), 1000 * (time.process_time() - cpu)))
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return times


def cold(new_client, urls: list[str], repeat: int) -> list[tuple[float, float]]:
    """The last of ``urls`` timed on a new app, after the others, ``repeat`` times."""
    times = []
    for _ in range(repeat):
        client = new_client()
        for url in urls[:-1]:
            timed(client, url, 1)
        times += timed(client, urls[-1], 1)
    return times


def report(name: str, times: list[tuple[float, float]]) -> None:
    wall = statistics.median(t[0] for t in times)
    target = TARGETS_MS.get(name)
    verdict = "" if target is None else f"{target:5d} {'ok' if wall <= target else 'MISSED'}"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{name:42s} {wall:10.1f} {min(t[0] for t in times):8.1f} "
          f"{statistics.median(t[1] for t in times):8.1f} {len(times):3d} {verdict:>11s}  {load}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of a warm row")
    parser.add_argument("--cold-repeat", type=int, default=3,
                        help="repetitions of a cold row, each on a new app")
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

        def new_client() -> TestClient:
            # addressed as a browser on this machine does: a loopback app refuses other Hosts
            return TestClient(create_app(settings, workspace=ws), base_url="http://127.0.0.1:8000")

        mid = run_ref(args.models // 2)
        warm = {
            "leaderboard API (warm)": "/api/leaderboard",
            "significance API (warm)": "/api/leaderboard/significance",
            "leaderboard page (warm)": "/",
            "model page (warm)": f"/models/{mid}",
            "model API (warm)": f"/api/models/{mid}",
            "gallery API, sorted by hd95 (warm)": f"/api/models/{mid}/cases?sort=hd95&page=3",
            "case page (warm)": f"/cases/{case_name(7)}",
            "compare page, top 2 (warm)": "/compare",
            "sites page (warm)": "/sites",
            "sites API (warm)": "/api/sites",
            "registry page (warm)": "/registry",
            "registry API (warm)": "/api/registry",
        }
        print(f"{'request':42s} {'median ms':>10s} {'min ms':>8s} {'CPU ms':>8s} {'n':>3s} "
              f"{'target':>11s}  load (1, 5, 15 min)")
        for name, urls in COLD.items():
            report(name, cold(new_client, urls, args.cold_repeat))
        client = new_client()
        for name, url in warm.items():
            timed(client, url, 1)  # computed once: the rows below are warm
            report(name, timed(client, url, args.repeat))
        ws.dispose()


if __name__ == "__main__":
    main()
