"""New cases in a real browser: upload a phantom image through the form, watch the progress,
see its prediction appear in the gallery. The dashboard serves a workspace of two runs
trained here for one epoch on a 32x32 phantom (the sample workspace has no checkpoints)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from live_server import CHROMIUM, live_server

from medselect.data.phantom import synth_knee_dataset

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need Debian's Chromium at "
                       f"{CHROMIUM} (apt-get install chromium)"),
    pytest.mark.xdist_group("browser"),
    pytest.mark.slow,
]
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright")
expect = sync_api.expect

TRAINED = "architecture: [unet, basic_unet], loss: [dice_ce], epochs: 1"
IMAGES_LOADED = """(images) => images.length > 0
    && images.every((img) => img.complete && img.naturalWidth > 0)"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, write_tiny_experiment):
    """A live server on a workspace with two trained runs (overrides the sample's server)."""
    folder = tmp_path_factory.mktemp("upload-browser")
    write_tiny_experiment(folder, space=TRAINED)
    subprocess.run([sys.executable, "-m", "medselect.cli", "sweep", "run",
                    str(folder / "tiny.yaml"), "-w", str(folder / "ws"), "--executor",
                    "inprocess"], check=True, capture_output=True)
    with live_server(folder / "ws", folder / "server.log") as url:
        yield url


def test_upload_a_case_and_see_its_prediction(page, base_url, tmp_path, screenshot):
    records = synth_knee_dataset(tmp_path / "new", cases_per_site=6, size=32, seed=0)
    case = next(r for r in records if r.patient_id.endswith("p005"))  # training had p000-p003
    page.goto(base_url + "/")
    page.get_by_role("link", name="New cases").click()
    expect(page.locator("h1")).to_contain_text("New cases")
    assert page.locator('input[name="models"]:checked').count() == 2  # top k of 2 runs
    page.locator('input[name="images"]').set_input_files(case.images[0])
    page.locator('input[name="labels"]').set_input_files(case.label)
    page.locator('input[name="site"]').fill("clinic-z")
    screenshot(page, "upload-form")
    page.get_by_role("button", name="Upload and predict").click()
    expect(page).to_have_url(re.compile(r"/uploads/\d{8}-\d{6}-[0-9a-f]{6}$"))
    expect(page.locator(".upload-state")).to_have_text("finished", timeout=60_000)
    thumbs = page.locator("table.upload-gallery img.thumb")
    expect(thumbs).to_have_count(2)
    page.wait_for_function(f"() => ({IMAGES_LOADED})([...document.querySelectorAll("
                           f"'table.upload-gallery img.thumb')])")
    assert "clinic-z" in page.locator("table.upload-gallery").first.inner_text()
    screenshot(page, "upload-predictions")
