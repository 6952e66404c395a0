"""Stable defaults: the dashboard (and ``medselect report``) opens on the task's test set, never
on new cases; new cases are listed newest first under one menu; a case set without labels
opens on its predictions instead of answering 404.

The workspace is the dashboard sample (12 test cases, 3 models) plus an upload of one labelled
case evaluated by 4 models (more than the test set: it used to become the default) and an
upload without labels.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from medselect.store import put_evaluation
from medselect.store.schema import case_set as case_set_table
from medselect.testing.sample import CASE_SET, build_sample_workspace


@pytest.fixture(scope="module")
def uploads_ws(tmp_path_factory, new_cases):
    ws = build_sample_workspace(tmp_path_factory.mktemp("uploads") / "ws")
    labelled = new_cases(ws, "upload-a", labelled=True)
    with ws.begin() as conn:  # the one-case upload is evaluated by more models than the test set
        put_evaluation(conn, {"id": "ev-x-upload-a", "model_ref": "run-003",
                              "case_set": labelled, "dataset_version": "dv-upload-a",
                              "status": "finished"})
    unlabelled = new_cases(ws, "upload-b", labelled=False, n_cases=2)
    with ws.begin() as conn:  # upload-b is the newer one
        stamp = conn.execute(sa.select(case_set_table.c.created_at).where(
            case_set_table.c.id == labelled)).scalar_one()
        conn.execute(case_set_table.update().where(case_set_table.c.id == unlabelled)
                     .values(created_at=stamp + timedelta(hours=1)))
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def uploads_client(uploads_ws, make_client):
    return make_client(uploads_ws)


def test_an_upload_never_becomes_the_default_board(uploads_client):
    board = uploads_client.get("/api/leaderboard").json()
    assert board["case_set"]["id"] == CASE_SET and board["n_cases"] == 12


def test_case_sets_list_the_tasks_own_then_new_cases_newest_first(uploads_client):
    listed = uploads_client.get("/api/case-sets").json()
    assert [c["name"] for c in listed] == ["test", "upload-b", "upload-a"]
    assert [c["labelled"] for c in listed] == [True, False, True]
    assert listed[1]["created_at"] > listed[2]["created_at"]


def test_new_cases_are_collapsed_under_one_menu(uploads_client):
    html = uploads_client.get("/").text
    menu = re.search(r'<details class="menu new-cases">(.*?)</details>', html, re.S).group(1)
    assert "new cases (2)" in menu
    names = re.findall(r"</time> ([\w-]+)</a>", menu)
    assert names == ["upload-b", "upload-a"]  # by date, newest first
    assert "no labels: predictions only" in menu
    pills = re.search(r'<div class="pills case-sets">(.*?)<details', html, re.S).group(1)
    assert "upload" not in pills  # the task's own sets only, as pills


def test_a_shown_upload_opens_its_menu(uploads_client, uploads_ws):
    html = uploads_client.get("/", params={"case_set": "dv-upload-a-new"}).text
    assert '<details class="menu new-cases" open>' in html
    assert "new cases (2): upload-a" in html
    assert "· 1 case of 1 patient</span>" in html and "1 cases" not in html


def test_an_unlabelled_case_set_links_to_its_prediction_galleries(uploads_client):
    response = uploads_client.get("/", params={"case_set": "dv-upload-b-new"})
    assert response.status_code == 200  # was a 404: "no metric values are stored"
    html = response.text
    assert 'id="unlabelled"' in html and "2 cases" in html
    galleries = [unescape(h) for h in re.findall(r'href="(/models/[^"]+)"', html)]
    assert galleries == [f"/models/{m}?case_set=dv-upload-b-new#cases"
                         for m in ("run-000", "run-001", "run-002")]
    gallery = uploads_client.get(galleries[0].split("#")[0])
    assert gallery.status_code == 200 and "predictions only" in gallery.text
    for page in (html, gallery.text):  # no dead link: the nav's compare and sites included
        for link in {unescape(h) for h in re.findall(r'href="(/[^"]+)"', page)}:
            assert uploads_client.get(link.split("#")[0]).status_code == 200, link
    sites = uploads_client.get("/api/sites", params={"case_set": "dv-upload-b-new"}).json()
    assert sites["board_metric"] == "dice" and sites["metrics"]  # the task's own metrics
    rows = uploads_client.get("/api/models/run-000/cases",
                              params={"case_set": "dv-upload-b-new"}).json()
    assert (rows["total"], rows["columns"], rows["sort"]) == (2, [], "")


def test_the_api_says_why_an_unlabelled_set_has_no_leaderboard(uploads_client):
    response = uploads_client.get("/api/leaderboard", params={"case_set": "dv-upload-b-new"})
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "no reference labels" in detail and "/models/<model>?case_set=dv-upload-b-new" in detail


def test_report_opens_on_the_test_set_and_takes_case_set(run_cli, uploads_ws, tmp_path):
    result = run_cli("report", "-w", uploads_ws.root, "--out", tmp_path / "default")
    assert result.code == 0, result.stderr
    index = (tmp_path / "default" / "index.html").read_text()
    assert "case set test (dv-sample-test)" in index
    result = run_cli("report", "-w", uploads_ws.root, "--out", tmp_path / "upload",
                     "--case-set", "dv-upload-a-new")
    assert result.code == 0, result.stderr
    assert "case set upload-a (dv-upload-a-new)" in (tmp_path / "upload" / "index.html"
                                                     ).read_text()


def test_report_names_an_unknown_case_set(run_cli, uploads_ws, tmp_path):
    result = run_cli("report", "-w", uploads_ws.root, "--out", tmp_path / "out",
                     "--case-set", "tset")
    assert result.code == 1
    assert "no case set 'tset'" in result.stderr and "did you mean 'test'" in result.stderr
