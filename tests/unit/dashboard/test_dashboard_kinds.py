"""Every page serves every task kind: 2D and 3D segmentation, landmarks, classification.

One sample workspace per kind (``build_sample_workspace(kind=...)``: 3 models x 12 cases over
2 sites, ``run-002`` missing its prediction for the last case): the leaderboard ranks by the
kind's key metric, the model page sorts its gallery worst first by the kind's key per-case
metric, and the compare page, case page and static export render.
"""

from __future__ import annotations

import io
import re
from html import unescape
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from medselect.dashboard import export_static
from medselect.errors import ConfigError
from medselect.store import case_metric_table
from medselect.testing.sample import build_sample_workspace

KINDS = ("segmentation", "seg3d", "landmarks", "classification")
RANKED_BY = {"segmentation": ("dice", "mean"), "seg3d": ("dice", "mean"),
             "landmarks": ("mre", "mean"), "classification": ("auc", "thinning")}
GALLERY_KEY = {"segmentation": ("dice", "mean", "higher"), "seg3d": ("dice", "mean", "higher"),
               "landmarks": ("mre", "mean", "lower"),
               "classification": ("probability", "case", "higher")}


@pytest.fixture(scope="module", params=KINDS)
def kind_ws(request, tmp_path_factory):
    ws = build_sample_workspace(tmp_path_factory.mktemp(request.param) / "ws",
                                kind=request.param)
    yield request.param, ws
    ws.dispose()


@pytest.fixture(scope="module")
def kind_client(kind_ws, make_client):
    kind, ws = kind_ws
    return kind, make_client(ws)


def test_leaderboard_ranks_by_the_kinds_key_metric(kind_client):
    kind, client = kind_client
    board = client.get("/api/leaderboard").json()
    assert (board["metric"], board["label"]) == RANKED_BY[kind]
    assert board["best"] in board["best_group"] and board["rows"][0]["model"] in board["best_group"]
    assert len(board["rows"]) == 3
    assert all(r["ci_low"] <= r["aggregate"] <= r["ci_high"] for r in board["rows"])
    html = client.get("/").text
    assert "<h1>Leaderboard" in html and html.count('<span class="cibar"') == 3


def test_model_page_gallery_worst_first_by_the_kinds_key_metric(kind_client):
    kind, client = kind_client
    metric, label, direction = GALLERY_KEY[kind]
    page = client.get("/api/models/run-002").json()
    gallery = page["gallery"]
    assert (page["label"], gallery["sort"]) == (label, metric)
    values = [r["values"][metric] for r in gallery["rows"]]
    assert values[0] is None  # the missing prediction is the worst of all
    assert values[1:] == sorted(values[1:], reverse=direction == "lower")
    assert {d["metric"] for d in page["distributions"]} == set(gallery["columns"])
    html = client.get("/models/run-002").text
    assert f"sorted by {metric} worst first" in html
    thumbs = re.findall(r'<img class="thumb" src="([^"]+)"', html)
    assert len(thumbs) == 11  # every case but the missing one
    assert client.get(thumbs[0]).headers["content-type"] == "image/png"
    curves = [c["name"] for c in page["curves"]]
    assert "train_loss" in curves and len(curves) == 3


def test_compare_and_case_pages(kind_client):
    kind, client = kind_client
    metric, label, _ = GALLERY_KEY[kind]
    compare = client.get("/api/compare").json()
    assert (compare["metric"], compare["label"]) == (metric, label)
    assert len(compare["models"]) == 2 and compare["rows"]
    assert client.get("/compare").status_code == 200
    case = client.get("/api/cases/case-0003").json()
    assert case["metric"] == metric and len(case["entries"]) == 3
    assert all(e["overlay_uri"] for e in case["entries"])
    html = client.get("/cases/case-0003").text
    assert html.count('<img class="overlay"') == 3


def test_static_export_links_resolve(kind_ws, tmp_path):
    _, ws = kind_ws
    index = export_static(ws, tmp_path / "report", n_resamples=20)
    report = index.parent
    assert len(list((report / "models").iterdir())) == 3
    assert len(list((report / "cases").iterdir())) == 12
    for page in report.rglob("*.html"):
        for link in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            target = page.parent / unquote(urlsplit(unescape(link)).path)
            assert target.resolve().is_file(), (page, link)


def test_seg3d_overlays_show_several_slices(kind_client):
    kind, client = kind_client
    entry = client.get("/api/cases/case-0000").json()["entries"][0]
    with Image.open(io.BytesIO(client.get(f"/artifacts/{entry['overlay_uri']}").content)) as img:
        slices = img.width // img.height
    with Image.open(io.BytesIO(client.get(f"/artifacts/{entry['thumbnail_uri']}").content)) as img:
        assert img.width == img.height  # the thumbnail is one slice
    assert slices == (3 if kind == "seg3d" else 1)  # a 3D case shows three slices side by side


@pytest.fixture
def landmarks_ws(tmp_path):
    ws = build_sample_workspace(tmp_path / "ws", kind="landmarks")
    yield ws
    ws.dispose()


def test_landmark_model_page_per_landmark(make_client, landmarks_ws):
    client = make_client(landmarks_ws)
    page = client.get("/api/models/run-000").json()
    assert page["labels"][0] == "mean" and "patella_apex" in page["labels"]
    summaries = {(v["metric"], v["label"]) for v in page["summaries"]}
    assert {("mre", "mean"), ("radial_error", "patella_apex")} <= summaries
    landmark = client.get("/api/models/run-000/cases",
                          params={"label": "patella_apex"}).json()
    assert (landmark["sort"], landmark["columns"]) == ("radial_error", ["radial_error"])
    errors = [r["values"]["radial_error"] for r in landmark["rows"]]
    assert errors == sorted(errors, reverse=True)  # largest error first
    html = client.get("/models/run-000").text  # the label pill leaves the sort by MRE out
    assert 'href="/models/run-000?case_set=dv-sample-test&amp;label=patella_apex"' in html


def test_unknown_sample_kind(tmp_path):
    with pytest.raises(ConfigError, match="kind 'volume' has no sample; choose one of"):
        build_sample_workspace(tmp_path / "ws", kind="volume")


def test_sample_is_written_as_evaluation_writes_it(kind_ws):
    kind, ws = kind_ws
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set="dv-sample-test")
    pairs = set(zip(table["metric"], table["label"], strict=True))
    if kind == "landmarks":
        assert ("radial_error", "patella_apex") in pairs and ("mre", "mean") in pairs
        assert ("sdr_2mm", "mean") in pairs
    elif kind == "classification":
        assert pairs == {("probability", "case"), ("correct", "case"),
                         ("class_probability", "normal"), ("class_probability", "thinning")}
        assert set(table["reference"]) == {"normal", "thinning"}
    else:
        assert {("dice", "femur"), ("dice", "mean"), ("hd95", "tibia")} <= pairs
