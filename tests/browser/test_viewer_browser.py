"""The case viewer in a real browser: Niivue draws a 3D case's image, ground truth (green) and
prediction (red) from this server's volumes, the layers toggle, zoom and slices change what the
canvas shows, every request stays on 127.0.0.1, it runs under the Content-Security-Policy the
dashboard is to send, and a browser without WebGL2 gets the static overlay and says why.

Headless Chromium renders WebGL2 with SwiftShader (on the CPU), so these tests need no GPU.
The workspace is real (:mod:`viewer_data`): a 3D knee phantom and an external model evaluated
on it. What the canvas shows is read back from screenshots of it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from urllib.parse import quote

import numpy as np
import pytest
from live_server import CHROMIUM, CHROMIUM_ARGS, live_server

from viewer_data import (
    MODEL,
    build_landmarks_workspace,
    build_viewer_workspace,
    evaluated_split,
)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need Debian's Chromium at "
                       f"{CHROMIUM} (apt-get install chromium)"),
    pytest.mark.xdist_group("browser"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright")
expect = sync_api.expect

VIEWPORT = {"width": 1400, "height": 1000}
READY = "() => ['ready', 'fallback'].includes(document.getElementById('viewer').dataset.state)"
VIEWER_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""The strictest policy the viewer runs under (Niivue draws its font from a data: PNG; it needs
no eval, WebAssembly, worker or blob: URL)."""


@pytest.fixture(scope="module")
def viewer_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A server on a 3D case (64 x 64 x 32); the case page's URL."""
    root = tmp_path_factory.mktemp("viewer") / "ws"
    ws = build_viewer_workspace(root, spatial_dims=3, size=64, cases_per_site=2)
    case_set, cases = evaluated_split(ws)
    ws.dispose()
    with live_server(root, root.parent / "server.log") as url:
        yield url, f"{url}/cases/{quote(cases[0], safe='')}?case_set={case_set}"


@pytest.fixture(scope="module")
def landmarks_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A server on a 2D landmarks case; the case page's URL."""
    root = tmp_path_factory.mktemp("points") / "ws"
    ws = build_landmarks_workspace(root)
    case_set, cases = evaluated_split(ws)
    ws.dispose()
    with live_server(root, root.parent / "server.log") as url:
        yield url, f"{url}/cases/{quote(cases[0], safe='')}?case_set={case_set}"


@pytest.fixture
def served(viewer_server, landmarks_server) -> tuple[str, ...]:
    return (viewer_server[0], landmarks_server[0])


def open_viewer(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_function(READY, timeout=60_000)
    return viewer_state(page)


def viewer_state(page) -> dict:
    return page.evaluate("() => ({...document.getElementById('viewer').dataset})")


def canvas_pixels(page) -> np.ndarray:
    """What the viewer's canvas shows now, as an RGB array (after the pending frame)."""
    from PIL import Image

    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => "
                  "requestAnimationFrame(done)))")
    png = page.locator("#viewer canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def green(rgb: np.ndarray) -> int:
    return int(((rgb[..., 1] > 200) & (rgb[..., 0] < 90) & (rgb[..., 2] < 90)).sum())


def red(rgb: np.ndarray) -> int:
    return int(((rgb[..., 0] > 200) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)).sum())


def changed(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels that differ between two captures of the canvas."""
    return float((np.abs(a - b).sum(axis=-1) > 30).mean())


def test_the_viewer_draws_every_layer_from_this_machine_only(page, viewer_server, screenshot):
    base, url = viewer_server
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    state = open_viewer(page, url)
    assert state["state"] == "ready", page.locator("[data-fallback-reason]").inner_text()
    assert state["layers"] == "reference prediction" and state["ndim"] == "3"
    rgb = canvas_pixels(page)
    assert green(rgb) > 200 and red(rgb) > 200  # both outlines are drawn
    volumes = [r for r in requests if "/volumes/" in r]
    assert len(volumes) == 3 and any(f"model={quote(MODEL, safe='')}" in r for r in volumes)
    assert any("/static/vendor/niivue/niivue.umd.js" in r for r in requests)
    outside = [r for r in requests if not r.startswith((base + "/", "data:", "blob:"))]
    assert not outside, f"requests that left 127.0.0.1: {outside}"
    screenshot(page, "viewer-3d")


def test_layers_toggle_and_the_raw_image_hides_them_all(page, viewer_server):
    open_viewer(page, viewer_server[1])
    both = canvas_pixels(page)
    page.locator('input[data-layer="reference"]').uncheck()
    page.wait_for_function("() => document.getElementById('viewer').dataset.layers "
                           "=== 'prediction'")
    no_reference = canvas_pixels(page)
    assert green(no_reference) < green(both) / 20 and red(no_reference) > red(both) / 2
    page.locator('input[data-layer="reference"]').check()
    page.locator('input[data-layer="prediction"]').uncheck()
    no_prediction = canvas_pixels(page)
    assert red(no_prediction) < red(both) / 20 and green(no_prediction) > green(both) / 2
    page.locator('input[data-layer="prediction"]').check()
    page.locator("button[data-raw]").click()
    expect(page.locator("button[data-raw]")).to_have_attribute("aria-pressed", "true")
    raw = canvas_pixels(page)
    assert green(raw) < green(both) / 20 and red(raw) < red(both) / 20
    page.locator("button[data-raw]").click()
    assert green(canvas_pixels(page)) > green(both) / 2


def test_a_class_can_be_hidden_and_classes_coloured_apart(page, viewer_server):
    open_viewer(page, viewer_server[1])
    every = canvas_pixels(page)
    for box in page.locator("input[data-class]").all()[1:]:
        box.uncheck()  # the femur alone
    femur = canvas_pixels(page)
    assert 0 < green(femur) < green(every) and 0 < red(femur) < red(every)
    page.locator("select[data-colours]").select_option("class")
    by_class = canvas_pixels(page)
    assert green(by_class) < green(femur) / 20 and red(by_class) < red(femur) / 20
    orange = ((by_class[..., 0] > 200) & (np.abs(by_class[..., 1] - 159) < 40)
              & (by_class[..., 2] < 60))  # the femur's colour (Okabe-Ito orange)
    assert orange.sum() > 100


def test_zoom_and_pan_change_the_view(page, viewer_server):
    open_viewer(page, viewer_server[1])
    before = canvas_pixels(page)
    page.locator('button[data-zoom="in"]').click()
    page.locator('button[data-zoom="in"]').click()
    assert float(viewer_state(page)["zoom"]) == pytest.approx(1.25**2, abs=1e-3)
    zoomed = canvas_pixels(page)
    assert changed(before, zoomed) > 0.2
    box = page.locator("#viewer canvas").bounding_box()
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*middle)
    page.mouse.down(button="right")
    page.mouse.move(middle[0] + 120, middle[1] + 60, steps=5)
    page.mouse.up(button="right")
    assert changed(zoomed, canvas_pixels(page)) > 0.1  # panned
    page.locator('button[data-zoom="reset"]').click()
    assert float(viewer_state(page)["zoom"]) == 1.0
    assert changed(before, canvas_pixels(page)) < 0.01


def test_a_3d_case_scrolls_through_slices_in_three_planes(page, viewer_server):
    state = open_viewer(page, viewer_server[1])
    first = int(state["slice"])
    expect(page.locator("output[data-slice-label]")).to_have_text(f"{first + 1} / 32")
    before = canvas_pixels(page)
    page.locator("input[data-slice]").fill(str(first + 6))
    assert int(viewer_state(page)["slice"]) == first + 6
    after = canvas_pixels(page)
    assert changed(before, after) > 0.05
    page.locator("#viewer canvas").click()
    page.keyboard.press("PageDown")
    assert int(viewer_state(page)["slice"]) == first + 5
    page.locator('button[data-plane="sagittal"]').click()
    expect(page.locator("output[data-slice-label]")).to_contain_text("/ 64")
    assert viewer_state(page)["plane"] == "sagittal"
    assert changed(after, canvas_pixels(page)) > 0.2
    page.locator('button[data-plane="multi"]').click()
    assert viewer_state(page)["plane"] == "multi"


def test_landmarks_are_points_joined_to_their_predictions(page, landmarks_server):
    state = open_viewer(page, landmarks_server[1])
    assert state["state"] == "ready" and state["ndim"] == "2" and "slice" not in state
    rgb = canvas_pixels(page)
    yellow = ((rgb[..., 0] > 180) & (rgb[..., 1] > 160) & (rgb[..., 2] < 90)).sum()
    assert green(rgb) > 50 and red(rgb) > 50 and yellow > 20  # points and error lines
    page.locator('input[data-layer="points"]').uncheck()
    hidden = canvas_pixels(page)
    assert green(hidden) < green(rgb) / 10 and red(hidden) < red(rgb) / 10


def test_the_viewer_runs_under_a_strict_content_security_policy(browser, viewer_server):
    base, url = viewer_server
    context = browser.new_context(viewport=VIEWPORT)

    def with_policy(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers,
                                                   "content-security-policy": VIEWER_CSP})

    context.route(f"{base}/cases/**", with_policy)
    context.add_init_script("window.violations = []; document.addEventListener("
                            "'securitypolicyviolation', (e) => window.violations.push("
                            "`${e.violatedDirective} ${e.blockedURI}`));")
    page = context.new_page()
    try:
        assert open_viewer(page, url)["state"] == "ready"
        assert page.evaluate("() => window.violations") == []
        assert green(canvas_pixels(page)) > 200
    finally:
        context.close()


def test_without_webgl2_the_page_says_so_and_shows_the_static_overlay(browser, viewer_server):
    url = viewer_server[1]
    no_webgl2 = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True,
                                            args=[*CHROMIUM_ARGS, "--disable-webgl2"])
    try:
        page = no_webgl2.new_page(viewport=VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        assert not page.evaluate("() => Boolean(document.createElement('canvas')"
                                 ".getContext('webgl2'))")
        assert open_viewer(page, url)["state"] == "fallback"
        expect(page.locator("[data-fallback-reason]")).to_contain_text("WebGL2 is unavailable")
        overlay = page.locator("#viewer img.viewer-overlay")
        expect(overlay).to_be_visible()
        assert overlay.evaluate("(img) => img.complete && img.naturalWidth > 500")
        assert overlay.get_attribute("src").startswith("/artifacts/evaluations/")
        expect(page.locator("#viewer canvas")).to_be_hidden()
        expect(page.locator("img.overlay").first).to_be_visible()  # every model's, below
        assert not errors
    finally:
        no_webgl2.close()
