"""Screenshots of the dashboard for the README: the leaderboard, the best model's page, the
sites page and the registry page.

Usage (from the repository root)::

    # a workspace on disk (e.g. after `medselect demo --no-serve`): served for the occasion
    .venv/bin/python tests/browser/screenshots.py --workspace medselect-workspace
    # a server that already runs
    .venv/bin/python tests/browser/screenshots.py --base-url http://127.0.0.1:8000
    # the built-in sample workspace (what the README shows until the demo's are made)
    .venv/bin/python tests/browser/screenshots.py --sample

or from Python, with this folder on ``sys.path``:
``take_screenshots("http://127.0.0.1:8000", "docs/screenshots")``. Needs
Playwright and Debian's Chromium (``/usr/bin/chromium``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from live_server import launch_chromium, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

README_VIEWPORT = {"width": 1440, "height": 900}
MAX_HEIGHT = 2600
"""Full-page screenshots stop here (a leaderboard of 200 models would be metres long)."""
README_HEIGHT = 1800
"""The README's pictures stop here: the top of the page, a few gallery rows."""

READY = """() => {
  const images = Array.from(document.images);
  const charts = Array.from(document.querySelectorAll("div.chart"));
  return images.every((img) => img.complete)
    && charts.every((c) => c.classList.contains("js-plotly-plot"));
}"""


def capture(page: Page, path: str | os.PathLike[str], *, full_page: bool = True,
            max_height: int = MAX_HEIGHT) -> Path:
    """Screenshot the page once every image and chart is drawn: the whole page (up to
    ``max_height`` px; lazy images below the fold are loaded first), or only what the window
    shows (``full_page=False``, e.g. with a dialog open)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.querySelectorAll('img[loading=lazy]')"
                  ".forEach((img) => { img.loading = 'eager'; })")
    page.wait_for_function(READY, timeout=10_000)
    if not full_page:
        page.screenshot(path=path)
        return path
    height = page.evaluate("() => document.documentElement.scrollHeight")
    width = page.viewport_size["width"] if page.viewport_size else README_VIEWPORT["width"]
    page.screenshot(path=path, full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": min(height, max_height)})
    return path


def take_screenshots(base_url: str, out_dir: str | os.PathLike[str], *,
                     browser: Browser | None = None) -> dict[str, Path]:
    """Save ``leaderboard.png``, ``model.png`` (the leaderboard's best model), ``sites.png`` and
    ``registry.png`` in ``out_dir``.

    Args:
        base_url: where the dashboard answers, e.g. ``http://127.0.0.1:8000``.
        browser: a Playwright browser to use; by default Chromium is launched for the call.

    Returns:
        the written files by page name.
    """
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            chromium = launch_chromium(playwright)
            try:
                return take_screenshots(base_url, out_dir, browser=chromium)
            finally:
                chromium.close()
    base_url = base_url.rstrip("/")
    with urllib.request.urlopen(f"{base_url}/api/leaderboard", timeout=60) as response:
        best = json.load(response)["best"]
    out = Path(out_dir)
    context = browser.new_context(viewport=README_VIEWPORT, device_scale_factor=1)
    try:
        page = context.new_page()
        written = {}
        for name, url in (("leaderboard", "/"), ("model", f"/models/{best}"),
                          ("sites", "/sites"), ("registry", "/registry")):
            page.goto(base_url + url)
            written[name] = capture(page, out / f"{name}.png", max_height=README_HEIGHT)
        return written
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--base-url", help="a running dashboard")
    source.add_argument("--workspace", type=Path, help="a workspace to serve for the occasion")
    source.add_argument("--sample", action="store_true", help="the built-in sample workspace")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    if args.base_url:
        written = take_screenshots(args.base_url, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            workspace = args.workspace
            if args.sample:
                from medselect.testing.sample import build_sample_workspace

                workspace = Path(tmp) / "ws"
                build_sample_workspace(workspace, n_models=8, n_cases=40,
                                       sites=("north", "south", "east")).dispose()
            with live_server(workspace.resolve(), Path(tmp) / "server.log") as url:
                written = take_screenshots(url, args.out)
    for path in written.values():
        print(path)


if __name__ == "__main__":
    main()
