"""Benchmark of dashboard pages in a browser: Chromium's navigation timing, warm.

For each workspace size (models x cases x sites, filled through the store as
``bench_dashboard.py`` fills it) it starts ``medselect serve`` as a user does, waits until the
leaderboard and the model page have been computed once (the server's caches are warm), then
opens each page in Debian's Chromium (Playwright, headless, nothing reaching the network) twice
to warm the browser's caches and ``--repeat`` times to time it. Each visit gives, in ms from
the request (medians printed):

- ``page``: the navigation entry's ``duration``, to the end of the load event: the server's
  answer, parsing the HTML, the page's script, the images in the window. The tables and text
  are shown; the charts are not drawn yet (they are drawn after the load event).
- its parts: ``server`` (request to last byte), ``HTML`` (parsing it, to ``domInteractive``),
  ``scripts`` (to the end of ``DOMContentLoaded``); ``paint``: the first contentful paint.
- ``plotly``: until plotly.js is loaded and has run (app.js's ``medselect:plotly-ready``);
  ``view``: until the charts in the window (1400 x 900) are drawn (``medselect:view-drawn``;
  the page's load when none is in it): what a user waits for to see the first screen whole;
  ``charts``: until the page's last chart is drawn (``medselect:charts-drawn``), those below
  the window included.

Targets (issue 19): each page <= 150 ms at 8 models x 24 cases, <= 300 ms at 200 x 2000 x 5;
the verdict is given for ``page``, ``view`` and ``charts``.

Run: ``.venv/bin/python benchmarks/bench_pages.py [--sizes 8x24x2,200x2000x5 --repeat 7]``
(``--keep DIR`` builds the workspaces once in ``DIR`` and reuses them).
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


MARKS = ("medselect:plotly-ready", "medselect:view-drawn", "medselect:charts-drawn")
"""The performance marks app.js sets when plotly.js has run, when the charts in the window are
drawn and when the last chart is."""
CHARTS_DRAWN = MARKS[-1]
FIGURES = ("page", "server", "HTML", "scripts", "paint", "plotly", "view", "charts")


def visit(page, url: str) -> dict[str, float]:
    """One visit of ``url``: the figures named in ``FIGURES``, in milliseconds (charts: NaN on
    a page without charts)."""
    page.goto(url, wait_until="load")
    if page.locator("script[data-chart]").count():
        page.wait_for_function("(mark) => performance.getEntriesByName(mark).length > 0",
                               arg=CHARTS_DRAWN)
    figures = page.evaluate("""(marks) => {
        const e = performance.getEntriesByType("navigation")[0];
        const at = (name) => (performance.getEntriesByName(name)[0] || {startTime: NaN}).startTime;
        return [e.duration, e.responseEnd - e.requestStart, e.domInteractive - e.responseEnd,
                e.domContentLoadedEventEnd - e.domInteractive, at("first-contentful-paint"),
                ...marks.map(at)];
    }""", list(MARKS))
    return dict(zip(FIGURES, figures, strict=True))


def time_pages(base: str, urls: dict[str, str], repeat: int) -> dict[str, list[dict]]:
    """Each page's visits, and how many charts it drew."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[dict]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for name, path in urls.items():
            visit(page, base + path)  # warm: the browser caches what it may
            visit(page, base + path)  # and V8 its compiled scripts
            times[name] = [visit(page, base + path) for _ in range(repeat)]
            drawn = page.locator(".js-plotly-plot").count()
            times[name] = [{**t, "drawn": drawn} for t in times[name]]
        browser.close()
    if errors:
        raise SystemExit(f"JavaScript errors: {errors}")
    return times


def verdict(value: float, target: int | None) -> str:
    return "" if target is None else f"{'ok' if value <= target else 'MISSED'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8x24x2,200x2000x5",
                        help="models x cases x sites, comma separated")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build each workspace in this folder "
                        "(<size>/ws) once and reuse it on the next run")
    args = parser.parse_args()
    import medselect

    print(f"medselect from {Path(medselect.__file__).parent}")
    print(f"{'size':>12s} {'page':12s} {'page ms':>7s} {'min':>6s} {'server':>6s} "
          f"{'HTML':>6s} {'scripts':>7s} {'paint':>6s} {'plotly':>6s} {'view':>6s} {'charts':>6s} "
          f"{'n':>2s} {'target':>6s} {'page':>6s} {'view':>6s} {'charts':>6s}  load")
    for size in args.sizes.split(","):
        n_models, n_cases, n_sites = parse_size(size)
        with tempfile.TemporaryDirectory() as tmp:
            root = (args.keep / size if args.keep else Path(tmp)) / "ws"
            if not root.exists():
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
                median = {f: statistics.median(t[f] for t in rows) for f in FIGURES}
                load = " ".join(f"{x:.2f}" for x in os.getloadavg())
                figures = " ".join(f"{median[f]:6.1f}" for f in FIGURES[1:])
                print(f"{size:>12s} {name:12s} {median['page']:7.1f} "
                      f"{min(t['page'] for t in rows):6.1f} {figures} {rows[0]['drawn']:2d} "
                      f"{target or '':>6} {verdict(median['page'], target):>6s} "
                      f"{verdict(median['view'], target):>6s} "
                      f"{verdict(median['charts'], target):>6s}  {load}", flush=True)


if __name__ == "__main__":
    main()
