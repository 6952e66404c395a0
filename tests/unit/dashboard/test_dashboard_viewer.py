"""The case viewer's server side: the volumes it loads (geometry, dtype, values, refusals) and
the viewer section of case pages.

The workspace is real (:mod:`viewer_data`): knee phantom volumes imported as a dataset and an
external model's predictions evaluated by ``evaluate_external``, so every served volume is
checked against what medselect's own readers make of the stored file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from html import unescape
from urllib.parse import quote

import nibabel as nib
import numpy as np
import pytest
import sqlalchemy as sa

from medselect.dashboard.assets import static_url
from medselect.dashboard.export import export_static
from medselect.dashboard.render import STATIC
from medselect.dashboard.volumes import VolumeCache, encode_volume
from medselect.data.image import Image
from medselect.data.readers import read_image
from medselect.data.writers import write_image
from medselect.errors import DataError
from medselect.evaluate.overlay import intensity_window
from medselect.store import case_in_set, get_predictions
from medselect.store.schema import case as case_table
from medselect.testing.sample import build_sample_workspace
from viewer_data import (
    MODEL,
    build_landmarks_workspace,
    build_viewer_workspace,
    evaluated_split,
)


@pytest.fixture(scope="module", params=[3, 2], ids=["3d", "2d"])
def viewer_ws(request, tmp_path_factory):
    ws = build_viewer_workspace(tmp_path_factory.mktemp(f"viewer{request.param}d") / "ws",
                                spatial_dims=request.param, size=32, overlays=False)
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def viewer_client(viewer_ws, make_client):
    return make_client(viewer_ws)


@pytest.fixture(scope="module")
def scope(viewer_ws):
    """The test case set, one of its cases and that case's stored row."""
    case_set, cases = evaluated_split(viewer_ws)
    with viewer_ws.connect() as conn:
        row = case_in_set(conn, case_set, cases[0])
    return case_set, cases[0], row


def volume_url(case_id: str, name: str, case_set: str, **params: object) -> str:
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in
                     {"case_set": case_set, **params}.items())
    return f"/api/cases/{quote(case_id, safe='')}/volumes/{name}?{query}"


def nifti(content: bytes) -> nib.Nifti1Image:
    return nib.Nifti1Image.from_bytes(content)


def assert_same_geometry(served: nib.Nifti1Image, stored: Image) -> None:
    expected = np.eye(4)
    n = stored.ndim
    expected[:n, :n] = np.reshape(stored.direction, (n, n)) * np.asarray(stored.spacing)
    expected[:n, 3] = stored.origin
    assert served.shape == stored.shape
    np.testing.assert_allclose(served.affine, expected)


def test_image_is_the_stored_image_exactly_with_the_overlays_grey_window(viewer_ws,
                                                                         viewer_client, scope):
    case_set, case_id, row = scope
    response = viewer_client.get(volume_url(case_id, "image.nii", case_set))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    served = nifti(response.content)  # plain .nii: no gzip header
    stored = read_image(viewer_ws.path(row["image_uris"][0]))
    assert_same_geometry(served, stored)
    assert served.get_data_dtype() == np.float32  # the phantom's intensities are not integers
    np.testing.assert_array_equal(np.asanyarray(served.dataobj), stored.array)
    low, high = intensity_window(stored.array)
    assert (float(served.header["cal_min"]), float(served.header["cal_max"])) == pytest.approx(
        (low, high), rel=1e-6)


def test_reference_and_prediction_are_gzipped_label_maps(viewer_ws, viewer_client, scope):
    case_set, case_id, row = scope
    reference = viewer_client.get(volume_url(case_id, "label.nii.gz", case_set))
    prediction = viewer_client.get(volume_url(case_id, "prediction.nii.gz", case_set,
                                              model=MODEL))
    stored = read_image(viewer_ws.path(row["label_uri"]), kind="label")
    for response in (reference, prediction):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/gzip"
        served = nifti(gzip.decompress(response.content))
        assert_same_geometry(served, stored)
        assert served.get_data_dtype() == np.uint8
        assert served.header.get_intent()[0] == "label"
    np.testing.assert_array_equal(
        np.asanyarray(nifti(gzip.decompress(reference.content)).dataobj), stored.array)
    shifted = np.asanyarray(nifti(gzip.decompress(prediction.content)).dataobj)
    np.testing.assert_array_equal(shifted, np.roll(stored.array, 3, axis=0))


def test_a_2d_prediction_stored_as_png_is_served_as_nifti(viewer_ws, viewer_client, scope):
    case_set, case_id, _ = scope
    with viewer_ws.connect() as conn:
        evaluation = conn.exec_driver_sql("select id from evaluation").scalar_one()
        uri = {p["case_id"]: p for p in get_predictions(conn, evaluation)}[case_id][
            "prediction_uri"]
    stored = read_image(viewer_ws.path(uri), kind="label")
    served = nifti(gzip.decompress(viewer_client.get(
        volume_url(case_id, "prediction.nii.gz", case_set, model=MODEL)).content))
    assert uri.endswith(".png" if stored.ndim == 2 else ".nii.gz")
    assert_same_geometry(served, stored)
    np.testing.assert_array_equal(np.asanyarray(served.dataobj), stored.array)


def test_an_image_of_whole_numbers_is_sent_in_the_smallest_integer_type(tmp_path):
    values = np.arange(-500, 1548, dtype=np.float32).reshape(32, 64)  # CT-like numbers
    path = write_image(Image(values, spacing=(0.5, 0.7)), tmp_path / "ct.nii.gz")
    served = nifti(encode_volume(path, "image").data)
    assert served.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asanyarray(served.dataobj), values)
    np.testing.assert_allclose(served.header.get_zooms(), (0.5, 0.7))


def test_a_volume_over_the_voxel_limit_is_refused_before_it_is_read(tmp_path, viewer_ws,
                                                                    viewer_client, scope):
    path = write_image(Image(np.zeros((20, 20), np.float32), spacing=(1.0, 1.0)),
                       tmp_path / "big.nii.gz")
    with pytest.raises(DataError, match="400 voxels, more than the limit of 399"):
        encode_volume(path, "image", max_voxels=399)
    case_set, case_id, _ = scope
    viewer_client.app.state.dashboard.volumes = VolumeCache(max_voxels=100)
    try:
        response = viewer_client.get(volume_url(case_id, "image.nii", case_set))
    finally:
        viewer_client.app.state.dashboard.volumes = VolumeCache()
    assert response.status_code == 400 and "more than the limit of 100" in response.json()[
        "detail"]


def test_a_volume_is_cached_revalidated_and_read_afresh_when_its_file_changes(
        viewer_ws, viewer_client, scope):
    case_set, case_id, row = scope
    url = volume_url(case_id, "label.nii.gz", case_set)
    first = viewer_client.get(url)
    assert viewer_client.get(url).content == first.content
    unchanged = viewer_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304 and not unchanged.content
    path = viewer_ws.path(row["label_uri"])
    label = read_image(path, kind="label")
    original = path.read_bytes()
    try:
        write_image(Image(np.zeros_like(label.array), label.spacing), path)
        os.utime(path, ns=(1, 1))  # another modification time, whatever the clock's resolution
        changed = viewer_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    finally:
        path.write_bytes(original)
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    assert not np.asanyarray(nifti(gzip.decompress(changed.content)).dataobj).any()


@pytest.mark.parametrize(("case_id", "name", "params", "status"), [
    ("no-such-case", "image.nii", {}, 404),
    ("{case}", "prediction.nii.gz", {}, 404),  # the model is not named
    ("{case}", "prediction.nii.gz", {"model": "external:nobody"}, 404),
    ("{case}", "image.nii", {"channel": 1}, 404),  # one channel only
    ("{case}", "image.nii", {"channel": -1}, 422),
    ("{case}", "medselect.db", {}, 422),
    ("../../medselect.db", "image.nii", {}, 404),
    ("..%2F..%2Fmedselect.db", "label.nii.gz", {}, 404),
])
def test_unknown_cases_models_channels_and_names_are_refused(viewer_client, scope, case_id,
                                                             name, params, status):
    case_set, case, _ = scope
    url = volume_url(case_id.format(case=case), name, case_set, **params)
    if case_id.startswith(".."):
        url = url.replace(quote(case_id, safe=""), case_id)  # sent as written
    response = viewer_client.get(url)
    assert response.status_code == status
    assert b"SQLite" not in response.content


def test_an_unknown_case_set_is_refused(viewer_client, scope):
    _, case_id, _ = scope
    assert viewer_client.get(volume_url(case_id, "image.nii", "no-such-set")).status_code == 404


def test_a_stored_path_leading_out_of_the_workspace_is_not_followed(tmp_path, viewer_ws,
                                                                    viewer_client, scope):
    case_set, case_id, row = scope
    outside = viewer_ws.root.parent / "outside.nii.gz"
    write_image(Image(np.full((4, 4), 7, np.uint8), spacing=(1.0, 1.0)), outside)
    link = viewer_ws.root / "escape.nii.gz"
    if not link.is_symlink():
        os.symlink(outside, link)
    update = (sa.update(case_table).where(case_table.c.case_id == case_id)
              .values(label_uri=sa.bindparam("uri")))
    try:
        for uri in ("../outside.nii.gz", str(outside), "escape.nii.gz"):
            with viewer_ws.begin() as conn:
                conn.execute(update, {"uri": uri})
            response = viewer_client.get(volume_url(case_id, "label.nii.gz", case_set))
            assert response.status_code == 404, uri
    finally:
        with viewer_ws.begin() as conn:
            conn.execute(update, {"uri": row["label_uri"]})


def test_the_case_page_offers_the_viewer_with_every_layer(viewer_ws, viewer_client, scope):
    case_set, case_id, _ = scope
    html = unescape(viewer_client.get(f"/cases/{case_id}?case_set={case_set}").text)
    section = re.search(r'<section class="viewer" id="viewer" (.*?)>', html, re.S).group(1)
    assert f'data-image="{volume_url(case_id, "image.nii", case_set)}"' in section
    assert f'data-reference="{volume_url(case_id, "label.nii.gz", case_set)}"' in section
    ndim = read_image(viewer_ws.path(scope[2]["image_uris"][0])).ndim
    assert f'data-ndim="{ndim}"' in section
    assert f'data-url="{volume_url(case_id, "prediction.nii.gz", case_set, model=MODEL)}"' in html
    assert re.findall(r'data-class="(\d+)" checked', html) == ["1", "2", "3", "4", "5"]
    assert ('data-plane="sagittal"' in html) == (ndim == 3)
    assert f'<script src="{static_url("vendor/niivue/niivue.umd.js")}"></script>' in html
    assert "<script>" not in html and " onclick=" not in html  # nothing inline (CSP)
    viewer = viewer_client.get(f"/api/cases/{case_id}?case_set={case_set}").json()["viewer"]
    assert viewer["reference"] and viewer["models"] == [
        {"model": MODEL, "labels": True, "points": None}]


def test_a_class_label_opens_the_viewer_on_that_class_alone(viewer_client, scope):
    case_set, case_id, _ = scope
    html = viewer_client.get(f"/cases/{case_id}?case_set={case_set}&metric=dice&label=tibia"
                             f"&model={quote(MODEL)}").text
    assert re.findall(r'data-class="(\d+)" checked', html) == ["2"]
    assert "showing tibia only" in html
    assert re.search(rf'<option value="{MODEL}" data-url="[^"]+" selected>', unescape(html))


def test_landmark_points_reach_the_page_as_voxel_coordinates(tmp_path, make_client):
    ws = build_landmarks_workspace(tmp_path / "ws", size=32)
    try:
        case_set, cases = evaluated_split(ws)
        with ws.connect() as conn:
            reference = json.loads(ws.path(case_in_set(conn, case_set, cases[0])[
                "landmarks_uri"]).read_text())
        html = make_client(ws).get(f"/cases/{cases[0]}?case_set={case_set}").text
    finally:
        ws.dispose()
    points = json.loads(re.search(r'<script type="application/json" id="viewer-points">(.*?)'
                                  r"</script>", html, re.S).group(1))
    assert points["reference"] == reference
    assert points["models"] == {MODEL: {k: [x + 4, y + 2] for k, (x, y) in reference.items()}}
    assert 'data-layer="points"' in html and "data-class=" not in html
    assert "data-reference=" not in html  # a landmarks case has no label layers


def test_a_case_whose_image_is_missing_says_so_and_loads_no_viewer(sample_ws, make_client):
    html = make_client(sample_ws).get("/cases/case-0000").text
    assert "image file is not in the workspace" in html
    assert 'id="viewer"' not in html and "niivue" not in html and "data-view-model" not in html


def test_a_report_has_no_viewer(tmp_path):
    ws = build_sample_workspace(tmp_path / "ws", n_models=2, n_cases=4)
    try:
        index = export_static(ws, tmp_path / "report")
    finally:
        ws.dispose()
    page = next((index.parent / "cases").iterdir()).read_text()
    assert 'id="viewer"' not in page and "niivue" not in page and "viewer.js" not in page
    assert not (index.parent / "static" / "viewer.js").exists()
    assert not (index.parent / "static" / "vendor" / "niivue").exists()


NIIVUE = STATIC / "vendor" / "niivue"
ROOT = STATIC.parents[3]


def test_the_vendored_niivue_is_the_pinned_release_intact_and_licensed():
    version, checksum = (NIIVUE / "VERSION").read_text().splitlines()
    sha256, name = checksum.split()
    assert hashlib.sha256((NIIVUE / name).read_bytes()).hexdigest() == sha256
    assert f'VERSION="${{1:-{version}}}"' in (ROOT / "scripts" / "refresh_niivue.sh").read_text()
    assert "BSD 2-Clause License" in (NIIVUE / "LICENSE").read_text()
    assert "==== fflate" in (NIIVUE / "THIRD_PARTY_NOTICES.txt").read_text()


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and the repository")
def test_no_gitignore_pattern_keeps_the_bundle_out_of_the_wheel():
    """Hatch leaves out of the wheel whatever .gitignore matches (``dist/`` would)."""
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", str(NIIVUE / "x.js")],
                             cwd=ROOT, check=False)
    assert ignored.returncode == 1  # 1: not ignored
