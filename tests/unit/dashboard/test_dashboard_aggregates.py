"""Aggregates that follow the metric's direction: the worst 10% of cases is p10 of Dice and p90
of HD95, labelled as such; every aggregate ``medselect rank --agg`` takes is a choice the page
highlights (``trimmed10`` stays ``trimmed10``); a link to another metric keeps the same tail."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest

from medselect.choose import ranking_inputs
from medselect.rank import parse_aggregate


def pills(html: str) -> dict[str, tuple[str, bool]]:
    """The aggregate pills: name -> (text, active)."""
    found = re.findall(r'<a class="pill( active)?" href="[^"]*" title="[^"]*" '
                       r'data-aggregate="([^"]+)">([^<]+)</a>', html)
    return {name: (unescape(text), bool(active)) for active, name, text in found}


def test_the_worst_tenth_follows_the_direction(client):
    dice = client.get("/api/leaderboard").json()["aggregates"]
    hd95 = client.get("/api/leaderboard", params={"metric": "hd95"}).json()["aggregates"]
    assert [a["name"] for a in dice] == ["mean", "median", "trimmed10", "p10"]
    assert [a["name"] for a in hd95] == ["mean", "median", "trimmed10", "p90"]
    assert dice[3]["text"] == "worst 10% (p10)" and hd95[3]["text"] == "worst 10% (p90)"
    assert "lie above it (lower is better)" in hd95[3]["title"]


def test_the_worst_tenth_of_hd95_is_its_largest_values(client, sample_ws):
    board = client.get("/api/leaderboard", params={"metric": "hd95", "aggregate": "p90"}).json()
    with sample_ws.connect() as conn:
        matrix = ranking_inputs(conn, "knee", board["case_set"]["id"]).matrix("hd95", "mean")
    p90 = dict(zip(matrix.models, np.percentile(matrix.values, 90, axis=0), strict=True))
    assert {r["model"]: r["aggregate"] for r in board["rows"]} == pytest.approx(p90)
    html = client.get("/", params={"metric": "hd95", "aggregate": "p90"}).text
    assert pills(html)["p90"] == ("worst 10% (p90)", True)


@pytest.mark.parametrize(("asked", "shown", "text"), [
    ("trimmed10", "trimmed10", "trimmed mean (trimmed10)"),
    ("trimmed", "trimmed10", "trimmed mean (trimmed10)"),
    ("trimmed25", "trimmed25", "trimmed mean (trimmed25)"),
    ("p90", "p90", "best 10% (p90)"),   # of Dice: the best tenth, said so
    ("p25", "p25", "worst 25% (p25)"),
])
def test_any_cli_aggregate_is_a_highlighted_choice(client, asked, shown, text):
    board = client.get("/api/leaderboard", params={"aggregate": asked}).json()
    assert board["aggregate"] == shown == parse_aggregate(asked).name
    html = client.get("/", params={"aggregate": asked}).text
    assert pills(html)[shown] == (text, True)
    assert sum(active for _, active in pills(html).values()) == 1
    assert 'name="aggregate"' in html  # any other name can be typed in


def test_an_unknown_aggregate_is_refused_with_the_choices(client):
    response = client.get("/api/leaderboard", params={"aggregate": "p10x"})
    assert response.status_code == 400
    assert "trimmed<NN>" in response.json()["detail"] and "p<NN>" in response.json()["detail"]


def test_a_metric_link_keeps_the_same_tail(client):
    html = client.get("/", params={"aggregate": "p10"}).text  # worst 10% of Dice
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    assert "/?case_set=dv-sample-test&metric=hd95&label=mean&aggregate=p90" in links
    html = client.get("/", params={"aggregate": "median"}).text
    assert ("/?case_set=dv-sample-test&metric=hd95&label=mean&aggregate=median"
            in [unescape(h) for h in re.findall(r'href="([^"]+)"', html)])
