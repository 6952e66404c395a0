"""Uploads are bounded: decompression bombs and oversized archives are refused with small
memory, a burst of uploads meets 429, and stored uploads expire, taking only what they created.

The sample workspace has finished runs but no checkpoints, so an accepted upload is checked and
stored (a new case set) and its inference then fails fast: all that these limits need. The
bombs are the issue's (a 1 MB ``.nii.gz`` whose header says 16384x16384) scaled down to the
small limits set here, so a regression costs megabytes, not gigabytes.
"""

from __future__ import annotations

import gzip
import io
import time
import tracemalloc
import zipfile
from datetime import timedelta

import nibabel as nib
import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image as PILImage

from medselect.dashboard import DashboardSettings, create_app
from medselect.dashboard.upload_expiry import expire_uploads, stored_uploads
from medselect.dashboard.upload_queue import RETRY_AFTER_S
from medselect.dashboard.upload_staging import upload_time
from medselect.store import add_review, list_case_sets
from medselect.store.schema import metadata

LIMITS = {"max_upload_unpacked_bytes": 1_000_000, "max_upload_voxels": 100_000}
BOMB_SIDE = 4096  # 16.8 M voxels, 16.8 MB of zeros that gzip to 16 kB


def nifti(shape: tuple[int, ...], data: bytes) -> bytes:
    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape(shape)
    header["vox_offset"] = 352
    return header.binaryblock + b"\x00" * 4 + data


def png(side: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.zeros((side, side), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def small_png() -> bytes:
    return png(32)


def dicom_zip(n_members: int, member_bytes: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n_members):
            zf.writestr(f"slice{i}.dcm", b"\x00" * 128 + b"DICM" + b"\x00" * member_bytes)
    return buffer.getvalue()


def files_of(ws) -> set[tuple[str, int]]:
    return {(str(p.relative_to(ws.root)), p.stat().st_size) for p in ws.root.rglob("*")
            if p.is_file() and not p.name.startswith("medselect.db")}


def rows_of(ws) -> dict[str, list[tuple]]:
    with ws.connect() as conn:
        return {table.name: sorted(map(tuple, conn.execute(sa.select(table))), key=repr)
                for table in metadata.sorted_tables}


def upload(client, name: str = "case.png", **data) -> str:
    """Upload one small image; wait until its inference has ended; its upload id."""
    answer = client.post("/api/uploads", files=[("images", (name, small_png()))], data=data)
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(answer.json()["status_url"]).json()
        if status["status"] in ("finished", "failed"):
            return status["upload_id"]
        time.sleep(0.05)
    raise AssertionError(f"upload still {status['status']} after 60 s")


@pytest.fixture
def limited(fresh_ws, make_client):
    return make_client(fresh_ws, **LIMITS)


BOMBS = {
    "nii.gz whose stream unpacks past the limit": (
        "bomb.nii.gz", gzip.compress(nifti((BOMB_SIDE, BOMB_SIDE), bytes(BOMB_SIDE ** 2))), 413,
        "unpacks to more than 1 MB"),
    "nii.gz whose header declares too many voxels": (
        "liar.nii.gz", gzip.compress(nifti((BOMB_SIDE, BOMB_SIDE), b"")), 400,
        f"{BOMB_SIDE ** 2:,} voxels, more than the limit of 100,000"),
    "png whose header declares too many pixels": (
        "bomb.png", png(BOMB_SIDE), 400, f"{BOMB_SIDE ** 2:,} voxels, more than the limit"),
    "nii whose header declares too many voxels": (
        "liar.nii", nifti((BOMB_SIDE, BOMB_SIDE), b""), 400,
        f"{BOMB_SIDE ** 2:,} voxels, more than the limit of 100,000"),
}


@pytest.mark.parametrize(("name", "content", "status", "message"), BOMBS.values(),
                         ids=BOMBS.keys())
def test_bombs_are_refused_with_small_memory(fresh_ws, limited, name, content, status,
                                             message):
    before = files_of(fresh_ws)
    tracemalloc.start()
    try:
        answer = limited.post("/api/uploads", files=[("images", (name, content))])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == status, answer.text
    assert name in answer.json()["detail"] and message in answer.json()["detail"]
    assert peak < 8_000_000, f"{peak / 1e6:.0f} MB allocated to refuse {name}"
    assert files_of(fresh_ws) == before and not list(fresh_ws.root.glob(".upload-*"))


def test_dicom_zips_unpacking_past_the_limit_together_are_refused(fresh_ws, limited):
    """Each zip alone is within every limit; what the request unpacks in all is not."""
    zips = [("images", (f"series{i}.zip", dicom_zip(6, 100_000))) for i in range(2)]
    assert all(len(z[1][1]) < 10_000 for z in zips)
    before = files_of(fresh_ws)
    answer = limited.post("/api/uploads", files=zips)
    assert answer.status_code == 413, answer.text
    assert "series1.zip" in answer.json()["detail"]
    assert "unpacks to more than 1 MB" in answer.json()["detail"]
    assert files_of(fresh_ws) == before and not list(fresh_ws.root.glob(".upload-*"))


def test_a_full_queue_answers_429_with_retry_after(fresh_ws, make_client):
    client = make_client(fresh_ws, max_pending_uploads=1)
    jobs = client.app.state.uploads
    with jobs.reserve():  # one upload in hand: being checked, waiting or predicted
        busy = client.post("/api/uploads", files=[("images", ("case.png", small_png()))])
        assert busy.status_code == 429
        assert busy.headers["retry-after"] == str(RETRY_AFTER_S)
        assert "1 uploads are already being checked or predicted" in busy.json()["detail"]
        assert not (fresh_ws.root / "uploads").exists()
    upload(client)  # the place is free again
    upload(client)  # and again once that upload's inference has ended


def test_refused_uploads_give_their_place_back(fresh_ws, make_client):
    client = make_client(fresh_ws, max_pending_uploads=1)
    for _ in range(3):
        refused = client.post("/api/uploads", files=[("images", ("fake.png", b"GIF89a"))])
        assert refused.status_code == 415
    upload(client)


def test_the_oldest_uploads_expire_beyond_the_cap(fresh_ws, make_client):
    client = make_client(fresh_ws, max_stored_uploads=2)
    first = upload(client, "first.png")
    with fresh_ws.connect() as conn:
        [case_set] = [c["id"] for c in list_case_sets(conn, kind="new") if c["name"] == first]
    second, third = upload(client, "second.png"), upload(client, "third.png")
    assert stored_uploads(fresh_ws.root) == [second, third]
    with fresh_ws.connect() as conn:
        names = {c["name"] for c in list_case_sets(conn, kind="new")}
        evaluated = {r[0] for r in conn.execute(sa.text("SELECT case_set FROM evaluation"))}
    assert names == {second, third} and case_set not in evaluated
    assert client.get(f"/api/uploads/{first}").status_code == 404


def test_an_upload_in_hand_never_expires(fresh_ws, make_client):
    """An upload being checked is already in ``uploads/`` before its inference is queued."""
    client = make_client(fresh_ws, max_stored_uploads=1)
    first = upload(client, "first.png")
    with client.app.state.uploads.reserve() as place:
        (fresh_ws.root / "uploads" / place.upload_id).mkdir()
        last = upload(client, "last.png")  # over the cap: the oldest not in hand expire
        assert stored_uploads(fresh_ws.root) == [place.upload_id, last]
    assert first not in stored_uploads(fresh_ws.root)


def test_expiry_removes_exactly_what_uploads_created(fresh_ws, make_client):
    """Everything the uploads made goes (reviews of their cases too); the training data, the
    test set, its evaluations and its reviews stay, byte for byte and row for row."""
    client = make_client(fresh_ws)
    client.post("/api/reviews", json={"model_ref": "run-001", "case_set": "dv-sample-test",
                                      "case_id": "case-0004", "reviewer": "dr. ann",
                                      "verdict": "acceptable"})
    files, rows = files_of(fresh_ws), rows_of(fresh_ws)
    ids = [upload(client, f"case{i}.png") for i in range(3)]
    with fresh_ws.begin() as conn:
        [new] = [c for c in list_case_sets(conn, kind="new") if c["name"] == ids[0]]
        add_review(conn, model_ref="run-000", case_set=new["id"], case_id="case0",
                   reviewer="dr. bo", verdict="not_acceptable")
    assert rows_of(fresh_ws) != rows
    kept = expire_uploads(fresh_ws, max_stored=50, max_age_days=30, keep={ids[2]},
                          now=upload_time(ids[2]) + timedelta(days=31))
    assert kept == ids[:2] and stored_uploads(fresh_ws.root) == [ids[2]]
    assert expire_uploads(fresh_ws, max_stored=50, max_age_days=30,
                          now=upload_time(ids[2]) + timedelta(days=29)) == []
    assert expire_uploads(fresh_ws, max_stored=0, max_age_days=30) == [ids[2]]
    assert files_of(fresh_ws) == files and rows_of(fresh_ws) == rows


def test_old_uploads_expire_when_the_server_starts(fresh_ws, make_client):
    from fastapi.testclient import TestClient

    upload_id = upload(make_client(fresh_ws))
    settings = DashboardSettings(workspace=fresh_ws.root, warm_up=False,
                                 max_upload_age_days=1e-9)
    with TestClient(create_app(settings, workspace=fresh_ws), base_url="http://127.0.0.1:8000"):
        assert stored_uploads(fresh_ws.root) == []
    assert upload_id not in {c["name"] for c in _new_case_sets(fresh_ws)}


def _new_case_sets(ws) -> list[dict]:
    with ws.connect() as conn:
        return list_case_sets(conn, kind="new")
