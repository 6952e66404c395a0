"""New cases through the dashboard: accepted uploads predicted by real tiny models, and every
kind of hostile or malformed upload refused with a 4xx that names the file, leaving the
workspace as it was.

The workspace holds two runs trained for one epoch on a 32x32 phantom (``medselect sweep
run``); uploads are new phantom cases (another seed), so they never leak from training.
"""

from __future__ import annotations

import gzip
import io
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from medselect.cli.main import main
from medselect.dashboard.upload_staging import safe_name
from medselect.data.phantom import synth_knee_dataset
from medselect.data.readers import read_image
from medselect.store import Workspace, case_metric_table, case_set_members, get_case_set

pytestmark = pytest.mark.slow

TRAINED = "architecture: [unet, basic_unet], loss: [dice_ce], epochs: 1"
LIMITS = {"max_upload_file_bytes": 100_000, "max_upload_bytes": 150_000, "max_upload_files": 4}
PNG = b"\x89PNG\r\n\x1a\n"
TOKEN = "t" * 32


@pytest.fixture(scope="module")
def trained_ws(tmp_path_factory, write_tiny_experiment):
    folder = tmp_path_factory.mktemp("uploads")
    write_tiny_experiment(folder, space=TRAINED)
    try:
        main(["sweep", "run", str(folder / "tiny.yaml"), "-w", str(folder / "ws"),
              "--executor", "inprocess"])
    except SystemExit as exc:
        assert not exc.code, f"training the tiny runs failed ({exc.code})"
    ws = Workspace.open(folder / "ws")
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def new_cases(tmp_path_factory) -> list:
    """Two phantom cases (images and labels as .nii.gz) of patients the runs never saw
    (training had patients 0-3 of each site)."""
    records = synth_knee_dataset(tmp_path_factory.mktemp("new"), cases_per_site=6, size=32,
                                 seed=0)
    return [r for r in records if r.patient_id.endswith(("p004", "p005"))][:2]


@pytest.fixture(scope="module")
def uploader(trained_ws, make_client):
    return make_client(trained_ws, **LIMITS)


@pytest.fixture(scope="module")
def run_ids(uploader) -> list[str]:
    page = uploader.get("/upload").text
    return sorted(set(re.findall(r'value="(run-[0-9a-f]+)"', page)))


def as_png(nifti: str) -> bytes:
    array = read_image(nifti).array
    scaled = (255 * (array - array.min()) / max(float(np.ptp(array)), 1e-6)).astype(np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(scaled.T).save(buffer, format="PNG")
    return buffer.getvalue()


def wait_until_done(client, status_url: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(status_url).json()
        if status["status"] in ("finished", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"upload still {status['status']} after 60 s: {status}")


def snapshot(ws: Workspace) -> set[tuple[str, int]]:
    """Every file of the workspace but the database (reads may touch its journal)."""
    return {(str(p.relative_to(ws.root)), p.stat().st_size) for p in ws.root.rglob("*")
            if p.is_file() and not p.name.startswith("medselect.db")}


def test_form_offers_finished_runs_with_the_best_ticked(uploader, run_ids):
    page = uploader.get("/upload")
    assert page.status_code == 200
    assert len(run_ids) == 2
    assert page.text.count('name="models"') == 2 and page.text.count(" checked>") == 2
    assert "case1_label.nii.gz" in page.text  # the label naming rule is on the page
    assert 'href="/upload"' in uploader.get("/api").text


def test_labelled_upload_is_predicted_and_stored_as_a_new_case_set(trained_ws, uploader,
                                                                   new_cases, run_ids):
    images = [("images", (f"case{i}.nii.gz", Path(r.images[0]).read_bytes()))
              for i, r in enumerate(new_cases)]
    labels = [("labels", (f"case{i}_label.nii.gz", Path(r.label).read_bytes()))
              for i, r in enumerate(new_cases)]
    answer = uploader.post("/api/uploads", files=images + labels, data={"site": "clinic-x"})
    assert answer.status_code == 202, answer.text
    upload_id = answer.json()["upload_id"]
    status = wait_until_done(uploader, answer.json()["status_url"])
    assert status["status"] == "finished", status
    assert (status["done"], status["total"], status["errors"]) == (4, 4, [])
    assert sorted(status["models"]) == run_ids and status["labelled"]

    folder = trained_ws.root / "uploads" / upload_id
    assert {p.name for p in (folder / "images").iterdir()} == {"case0.nii.gz", "case1.nii.gz"}
    assert (folder / f"{upload_id}.csv").is_file() and (folder / "status.json").is_file()
    with trained_ws.connect() as conn:
        case_set = get_case_set(conn, status["case_set"])
        members = case_set_members(conn, case_set["id"])
        table = case_metric_table(conn, case_set=case_set["id"])
    assert case_set["kind"] == "new" and case_set["name"] == upload_id
    assert {(m["case_id"], m["site"]) for m in members} == {("case0", "clinic-x"),
                                                            ("case1", "clinic-x")}
    dice = table[(table["metric"] == "dice")]
    assert set(zip(dice["model"], dice["case_id"], strict=True)) == {
        (run, case) for run in run_ids for case in ("case0", "case1")}
    assert dice["value"].dropna().between(0, 1).all()

    page = uploader.get(f"/uploads/{upload_id}").text
    thumbs = re.findall(r'<img class="thumb" src="(/artifacts/[^"]+)"', page)
    assert len(thumbs) == 4 and "dice" in page
    assert uploader.get(thumbs[0]).content.startswith(PNG)
    assert status["case_set"] in {c["id"] for c in uploader.get("/api/case-sets").json()}


def test_unlabelled_png_upload_with_one_chosen_model(trained_ws, uploader, new_cases, run_ids):
    answer = uploader.post("/api/uploads", files=[("images", ("knee.png",
                                                              as_png(new_cases[0].images[0])))],
                           data={"site": "clinic-y", "models": run_ids[1]})
    assert answer.status_code == 202, answer.text
    status = wait_until_done(uploader, answer.json()["status_url"])
    assert status["status"] == "finished", status
    assert (status["models"], status["cases"], status["labelled"]) == ([run_ids[1]], ["knee"],
                                                                       False)
    page = uploader.get(answer.json()["page_url"]).text
    assert page.count('<img class="thumb"') == 1 and ">ok<" in page


def dicom_bytes() -> bytes:
    return b"\x00" * 128 + b"DICM" + b"\x00" * 64


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def truncated_nifti(path: str) -> bytes:
    return gzip.compress(gzip.decompress(Path(path).read_bytes())[:400])


NRRD_ELSEWHERE = (b"NRRD0004\ntype: float\ndimension: 2\nsizes: 2 2\nencoding: raw\n"
                  b"data file: /etc/passwd\n\n")


def refusals(case) -> list:
    """(id, files, form fields, status, text the message must contain)."""
    image = Path(case.images[0]).read_bytes()
    return [
        ("oversize file", [("images", ("big.png", PNG + b"\x00" * 100_000))], {}, 413,
         "big.png"),
        ("oversize request", [("images", (f"p{i}.png", PNG + b"\x00" * 60_000))
                              for i in range(3)], {}, 413, "p2.png"),
        ("png that is not a png", [("images", ("fake.png", b"GIF89a" + b"\x00" * 64))], {}, 415,
         "fake.png"),
        ("nifti that is not gzip", [("images", ("scan.nii.gz", b"n+1\x00" * 100))], {}, 415,
         "scan.nii.gz"),
        ("unaccepted type", [("images", ("model.pt", b"\x80\x04K\x01."))], {}, 415, "model.pt"),
        ("nrrd naming another file", [("images", ("x.nrrd", NRRD_ELSEWHERE))], {}, 415,
         "x.nrrd"),
        ("zip slip", [("images", ("series.zip", zipped({"a.dcm": dicom_bytes(),
                                                        "../evil.dcm": dicom_bytes()})))],
         {}, 400, "../evil.dcm"),
        ("absolute zip member", [("images", ("series.zip",
                                             zipped({"/etc/evil.dcm": dicom_bytes()})))],
         {}, 400, "/etc/evil.dcm"),
        ("zip of no dicom", [("images", ("series.zip", zipped({"a.dcm": b"not dicom"})))], {},
         415, "a.dcm"),
        ("zip that is not a zip", [("images", ("series.zip", PNG))], {}, 415, "series.zip"),
        ("too many files", [("images", (f"c{i}.nii.gz", image)) for i in range(5)], {}, 400,
         "at most 4"),
        ("empty upload", None, {"site": "x"}, 400, "no image"),
        ("empty file input", [("images", ("", b""))], {}, 400, "no image"),
        ("label without image", [("images", ("a.nii.gz", image)),
                                 ("labels", ("b_label.nii.gz", image))], {}, 400,
         "b_label.nii.gz"),
        ("truncated nifti", [("images", ("cut.nii.gz", truncated_nifti(case.images[0])))], {},
         400, "cut.nii.gz"),
        ("unknown model", [("images", ("a.nii.gz", image))], {"models": "run-nope"}, 400,
         "run-nope"),
    ]


def test_hostile_or_malformed_uploads_are_refused_and_change_nothing(trained_ws, uploader,
                                                                     new_cases):
    before = snapshot(trained_ws)
    for name, files, data, code, named in refusals(new_cases[0]):
        answer = uploader.post("/api/uploads", files=files, data=data)
        assert answer.status_code == code, (name, answer.text)
        assert named in answer.json()["detail"], (name, answer.json())
        assert snapshot(trained_ws) == before, name
        assert not list(trained_ws.root.glob(".upload-*")), name


def test_upload_needs_a_content_length(uploader):
    answer = uploader.post("/api/uploads", content=iter([b"--x--\r\n"]),
                           headers={"content-type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 411


def test_upload_routes_need_the_token_off_loopback(trained_ws, make_client):
    remote = make_client(trained_ws, host="0.0.0.0", token=TOKEN)
    files = [("images", ("a.png", PNG))]
    assert remote.post("/api/uploads", files=files).status_code == 401
    for path in ("/upload", "/api/uploads/20250101-000000-abcdef", "/uploads/x"):
        assert remote.get(path).status_code == 401
    assert remote.get("/upload", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("upload_id", ["20250101-000000-abcdef", "%2E%2E%2Fuploads", ".hidden"])
def test_unknown_upload_is_404(uploader, upload_id):
    assert uploader.get(f"/api/uploads/{upload_id}").status_code == 404
    assert uploader.get(f"/uploads/{upload_id}").status_code == 404


@pytest.mark.parametrize(("given", "kept"), [("../../.evil.png", "evil.png"),
                                              ("C:\\scans\\a b.nii.gz", "a_b.nii.gz"),
                                              ("ok-1.png", "ok-1.png")])
def test_file_names_lose_folders_and_hidden_dots(given, kept):
    assert safe_name(given) == kept
