"""Benchmark of dashboard pages in a browser: Chromium's navigation timing, warm.

For each workspace size (models x cases x sites, filled through the store as
``bench_dashboard.py`` fills it) it starts ``medselect serve`` as a user does, waits until the
leaderboard and the model page have been computed once (the server's caches are warm), then
opens each page in Debian's Chromium (Playwright, headless, nothing reaching the network) once
to warm the browser's cache and ``--repeat`` times to time it. Each row is the median of the
navigation entry's ``duration`` (from the request to the end of the load event: the server's
answer, parsing the HTML, loading and running the scripts, drawing the charts), with its parts
beside it (the server's, request to last byte; parsing the HTML; running the scripts, charts
included), how many charts were drawn and the load average of the machine.

Targets (issue 19): each page <= 150 ms at 8 models x 24 cases, <= 300 ms at 200 x 2000 x 5.

Run: ``.venv/bin/python benchmarks/bench_pages.py [--sizes 8x24x2,200x2000x5 --repeat 7]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from medselect.testing.sample import build_sample_workspace, run_ref

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SITES = ("north", "south", "east", "west", "centre")
TARGETS_MS = {(8, 24): 150, (200, 2000): 300}
FIRST_VIEW_S = 600.0
"""How long the first (cold) computation of a page may take on a busy machine."""


def parse_size(text: str) -> tuple[int, int, int]:
    models, cases, *sites = (int(part) for part in text.split("x"))
    return models, cases, sites[0] if sites else 2


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(root: Path, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "medselect.cli", "serve", "--workspace", str(root),
               "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "NO_COLOR": "1"})


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``url`` answers 200 (the first answer computes and caches the page's data)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def navigation_ms(page, url: str) -> tuple[float, float, float, float]:
    """One visit of ``url``, in milliseconds: the whole navigation, the server's part (request
    to last byte), parsing the HTML (to ``domInteractive``) and running the scripts, charts
    included (to the end of ``DOMContentLoaded``)."""
    page.goto(url, wait_until="load")
    entry = page.evaluate("""() => {
        const e = performance.getEntriesByType("navigation")[0];
        return [e.duration, e.responseEnd - e.requestStart, e.domInteractive - e.responseEnd,
                e.domContentLoadedEventEnd - e.domInteractive];
    }""")
    return tuple(entry)


def time_pages(base: str, urls: dict[str, str], repeat: int) -> dict[str, list[tuple]]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[tuple]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for name, path in urls.items():
            navigation_ms(page, base + path)  # warm: the browser caches what it may
            navigation_ms(page, base + path)  # and V8 its compiled scripts
            times[name] = [navigation_ms(page, base + path) for _ in range(repeat)]
            drawn = page.locator(".js-plotly-plot").count()
            times[name] = [(*t, drawn) for t in times[name]]
        browser.close()
    if errors:
        raise SystemExit(f"JavaScript errors: {errors}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8x24x2,200x2000x5",
                        help="models x cases x sites, comma separated")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import medselect

    print(f"medselect from {Path(medselect.__file__).parent}")
    print(f"{'size':>12s} {'page':12s} {'median ms':>9s} {'min ms':>7s} {'server':>7s} "
          f"{'HTML':>6s} {'scripts':>7s} {'charts':>6s} {'target':>11s}  load")
    for size in args.sizes.split(","):
        n_models, n_cases, n_sites = parse_size(size)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "ws"
            build_sample_workspace(root, n_models=n_models, n_cases=n_cases,
                                   sites=SITES[:n_sites], overlays="shared").dispose()
            log = Path(tmp) / "server.log"
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            process = serve(root, port, log)
            try:
                urls = {"leaderboard": "/", "model page": f"/models/{run_ref(n_models // 2)}"}
                for path in urls.values():
                    wait_for(base + path, process, log, FIRST_VIEW_S)
                times = time_pages(base, urls, args.repeat)
            finally:
                process.terminate()
                process.wait(timeout=30)
            target = TARGETS_MS.get((n_models, n_cases))
            for name, rows in times.items():
                total = statistics.median(t[0] for t in rows)
                verdict = "" if target is None else (
                    f"{target:4d} {'ok' if total <= target else 'MISSED'}")
                load = " ".join(f"{x:.2f}" for x in os.getloadavg())
                phases = " ".join(f"{statistics.median(t[i] for t in rows):{w}.1f}"
                                  for i, w in ((1, 7), (2, 6), (3, 7)))
                print(f"{size:>12s} {name:12s} {total:9.1f} {min(t[0] for t in rows):7.1f} "
                      f"{phases} {rows[0][4]:6d} {verdict:>11s}  {load}", flush=True)


if __name__ == "__main__":
    main()
