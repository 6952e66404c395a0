"""The sites page: the best model per site as ``medselect rank --by site`` chooses it, with the
runner-up, the margin and its interval, the significance, patients and the confirmed figure; it
says plainly when one model is best everywhere and when the evidence is too thin to tell."""

from __future__ import annotations

import re
from html import unescape

import pytest

from medselect.choose import choose_model, group_table, task_ranking
from medselect.testing.sample import CASE_SET, VAL_CASE_SET, build_sample_workspace

RESAMPLES = 300
WIDE = {"metric": "dice", "equivalence": {"dice": 0.1}, "tie_break": ["fewer_parameters"],
        "by": ["site"], "bootstrap_resamples": RESAMPLES}
"""The two equally good models shown equivalent everywhere: the tie-break picks run-000."""


@pytest.fixture(scope="module")
def val_ws(tmp_path_factory):
    ws = build_sample_workspace(tmp_path_factory.mktemp("sites") / "ws", n_val_cases=12,
                                ranking={"metric": "dice", "by": ["site"],
                                         "equivalence": {"dice": 0},
                                         "bootstrap_resamples": RESAMPLES})
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def val_client(val_ws, make_client):
    return make_client(val_ws, n_resamples=None)  # the rules' own bootstrap, as the CLI's


def text_of(html: str) -> str:
    return unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


def test_the_table_is_the_one_medselect_rank_by_site_makes(val_ws, val_client):
    page = val_client.get("/api/sites").json()
    with val_ws.connect() as conn:
        table = group_table(choose_model(conn, "knee", task_ranking(conn, "knee")), "site")
    assert (page["selection_set"], page["confirmation_set"]) == (VAL_CASE_SET, CASE_SET)
    assert [r["site"] for r in page["rows"]] == [r.group for r in table.rows]
    for shown, row in zip([*page["rows"], page["overall"]], [*table.rows, table.overall],
                          strict=True):
        c = row.choice
        assert (shown["model"], shown["runner_up"], shown["runner_up_standing"]) == (
            c.model, c.runner_up, c.runner_up_standing)
        assert (shown["margin"], shown["margin_ci_low"], shown["margin_ci_high"]) == (
            pytest.approx(c.margin), pytest.approx(c.margin_ci_low),
            pytest.approx(c.margin_ci_high))
        assert shown["p_vs_runner_up"] == pytest.approx(c.p_vs_runner_up)
        assert (shown["n_patients"], shown["n_cases"]) == (c.n_patients, c.n_cases)
        assert shown["confirmed"]["value"] == pytest.approx(row.confirmation.value)
        assert shown["confirmed"]["case_set"] == CASE_SET and shown["thin"] == row.thin
    assert page["verdict"] == table.verdict
    assert [r["site"] for r in page["rows"]] == ["north", "south"]
    assert page["overall"]["confirmed"]["site"] is None
    assert page["rows"][0]["confirmed"]["site"] == "north"


def test_thin_evidence_is_said_plainly(val_client):
    """Without an equivalence margin the two equally good models cannot be told apart."""
    page = val_client.get("/api/sites").json()
    assert page["thin"] == ["north", "south"]
    assert all("cannot be told apart" in r["thin"] for r in page["rows"])
    html = val_client.get("/sites").text
    note = text_of(re.search(r'<p class="thin-note" id="thin-note">(.*?)</p>', html,
                             re.S).group(1))
    assert note.startswith("Too little evidence to tell at 2 of 2 sites (north, south)")
    assert html.count("too thin to tell</span>") == 3  # and all sites together


def test_one_model_best_everywhere_is_said_plainly(tmp_path, make_client):
    ws = build_sample_workspace(tmp_path / "ws", ranking=WIDE)
    try:
        client = make_client(ws, n_resamples=None)
        page = client.get("/api/sites").json()
        html = client.get("/sites").text
    finally:
        ws.dispose()
    assert page["same_model"] == "run-000" and not page["differs"]
    assert {r["model"] for r in page["rows"]} == {"run-000"}
    assert "One model is best at every site: run-000" in text_of(html)


def test_cells_link_to_the_sites_leaderboard_and_gallery(val_client):
    html = val_client.get("/sites").text
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    north = re.search(r'<tr data-site="north".*?</tr>', html, re.S).group(0)
    board, gallery, confirmed = [unescape(h) for h in re.findall(r'href="([^"]+)"', north)]
    assert board == (f"/?case_set={VAL_CASE_SET}&metric=dice&label=mean&aggregate=mean"
                     "&site=north")
    assert gallery.startswith("/models/run-00") and gallery.endswith(
        f"?case_set={VAL_CASE_SET}&site=north#cases")
    assert confirmed == (f"/?case_set={CASE_SET}&metric=dice&label=mean&aggregate=mean"
                         "&site=north")
    for link in {h.split("#")[0] for h in links if h.startswith("/")}:
        assert val_client.get(link).status_code == 200, link


def test_the_question_can_change_as_on_the_command_line(val_client):
    page = val_client.get("/api/sites", params={"metric": "hd95", "aggregate": "p90"}).json()
    assert (page["metric"], page["aggregate"], page["direction"]) == ("hd95", "p90", "lower")
    assert page["value_name"] == "p90 hd95" and page["unit"] == "mm"
    assert [a["text"] for a in page["aggregates"]][-1] == "worst 10% (p90)"
    response = val_client.get("/api/sites", params={"metric": "hd96"})
    assert response.status_code == 404 and "dice, hd95" in response.json()["detail"]


def test_the_nav_leads_to_the_sites_page(val_client):
    assert 'href="/sites?case_set=' in val_client.get("/").text
    assert '<a href="/sites">Sites</a>' in val_client.get("/registry").text
