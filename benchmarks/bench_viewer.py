"""Benchmark of the case viewer's first paint on a 256 x 256 x 128 volume (target <= 1 s warm).

Builds a real workspace (``tests/viewer_data.py``: a 3D knee phantom imported as a dataset and
an external model evaluated on it), serves it with ``medselect serve`` and opens the case page
in headless Chromium ``--repeat`` times. First paint is the time from the page's navigation
start until the image, ground truth and prediction are drawn and the GL queue is finished
(``gl.finish()``): HTML, Niivue's 2.2 MB script, three volumes fetched and parsed, labels
outlined, textures computed. The first visit is cold (the server reads and encodes the
volumes), the others warm (encoded volumes cached by the server; the browser revalidates them,
a fresh browser context each time so nothing else is cached). Also printed: the volume
requests' server times and the page's own split of the time.

Headless Chromium draws WebGL2 with SwiftShader, on the CPU: the GL part of the figure is what
a machine without a GPU sees, and much less on a GPU.

Run: ``.venv/bin/python benchmarks/bench_viewer.py [--size 256 --repeat 5]``
(``--screenshot docs/screenshots/viewer-3d.png`` also saves the viewer as the README shows it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "browser")]

from live_server import launch_chromium, live_server  # noqa: E402

from viewer_data import build_viewer_workspace, evaluated_split  # noqa: E402

TARGET_MS = 1000
READY = "() => ['ready', 'fallback'].includes(document.getElementById('viewer').dataset.state)"
PAINTED = """() => {
  const viewer = document.getElementById('viewer').viewer;
  viewer.nv.gl.finish();
  const [nav] = performance.getEntriesByType('navigation');
  const volumes = performance.getEntriesByType('resource')
    .filter((r) => r.name.includes('/volumes/'));
  const script = performance.getEntriesByType('resource')
    .find((r) => r.name.includes('niivue.umd.js'));
  return {
    total: performance.now(),
    html: nav.responseEnd,
    script: script ? script.responseEnd : NaN,
    volumes: Math.max(...volumes.map((r) => r.responseEnd)),
  };
}"""


def first_paint(browser, url: str, viewport: dict) -> dict:
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(READY, timeout=120_000)
        state = page.evaluate("() => document.getElementById('viewer').dataset.state")
        if state != "ready":
            reason = page.locator("[data-fallback-reason]").inner_text()
            raise SystemExit(f"the viewer fell back instead of drawing: {reason}")
        return page.evaluate(PAINTED)
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256,
                        help="in-plane size; the volume is size x size x size/2")
    parser.add_argument("--repeat", type=int, default=5, help="warm visits")
    parser.add_argument("--screenshot", type=Path, help="save the viewer section here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        start = time.perf_counter()
        ws = build_viewer_workspace(root, spatial_dims=3, size=args.size, cases_per_site=2)
        case_set, cases = evaluated_split(ws)
        ws.dispose()
        print(f"workspace: {args.size} x {args.size} x {args.size // 2} knee phantom, "
              f"{len(cases)} evaluated case(s), built in {time.perf_counter() - start:.0f} s")
        viewport = {"width": 1440, "height": 1000}
        with live_server(root, root.parent / "server.log") as base, sync_playwright() as pw:
            browser = launch_chromium(pw)
            url = f"{base}/cases/{quote(cases[0], safe='')}?case_set={case_set}"
            cold = first_paint(browser, url, viewport)
            warm = [first_paint(browser, url, viewport) for _ in range(args.repeat)]
            if args.screenshot:
                save_screenshot(browser, url, viewport, args.screenshot)
            browser.close()
    median = {key: statistics.median(w[key] for w in warm) for key in warm[0]}
    every = ", ".join(f"{w['total']:.0f}" for w in warm)
    verdict = "met" if median["total"] <= TARGET_MS else "NOT met"
    print(f"first paint, cold (server reads and encodes the volumes): {cold['total']:.0f} ms")
    print(f"first paint, warm (median of {args.repeat}): {median['total']:.0f} ms "
          f"(target <= {TARGET_MS} ms: {verdict}); all: {every} ms")
    print(f"  of which: page {median['html']:.0f} ms, Niivue script loaded at "
          f"{median['script']:.0f} ms, last volume received at {median['volumes']:.0f} ms, "
          f"then parsing, outlining and drawing {median['total'] - median['volumes']:.0f} ms")
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")


def save_screenshot(browser, url: str, viewport: dict, path: Path) -> None:
    """The viewer section as a reader first sees it (all layers, the axial slice)."""
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(READY, timeout=120_000)
        page.evaluate("() => document.getElementById('viewer').viewer.nv.gl.finish()")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.locator("#viewer").screenshot(path=path)
    finally:
        context.close()


if __name__ == "__main__":
    main()
