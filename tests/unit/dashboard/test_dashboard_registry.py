"""The registry page: champions, error budgets, histories, rollbacks and refreshes, as HTML,
as JSON and in the static export, and the decision reports served from the workspace only.

The workspace is the dashboard sample (run-000 best and the global champion as v1, recorded
without a gate decision; run-001 as good; run-002 worse; 12 test cases of 10 patients at
sites north and south) with its test set frozen as the reference set after a recorded refresh,
then, through the registry's own functions (the gate, ``promote_through_gate``, ``rollback``):

- global: run-001 forced past the gate (v2, look 1), rolled back (run-000 champion again),
  run-002 rejected (v3, look 2): 0.025 + 0.0125 = 75% of alpha 0.05 spent, a refresh advised;
- site:north: run-000 first version (v1, no look), run-001 rejected (v2, look 1: 50% spent).

No selection set, so each gated candidate counts as picked from the 3 models on the reference
set itself (K = 3: its level is divided by 3).
"""

from __future__ import annotations

import json
import os
import re
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa
from markupsafe import escape

from medselect.dashboard import export_static
from medselect.dashboard.links import ServerLinks, StaticLinks
from medselect.dashboard.schemas import RegistryPage
from medselect.registry import (
    GateCriteria,
    MetricMargin,
    append_event,
    card_context,
    model_card,
    promote_through_gate,
    rollback,
)
from medselect.registry.refresh import REFERENCE_REFRESHED
from medselect.store import Workspace, get_case_set, set_reference_case_set
from medselect.store.schema import audit_event
from medselect.testing.sample import CASE_SET, VERSION, build_sample_workspace
from medselect.testing.sample_kinds import SAMPLE_KINDS

TASK = SAMPLE_KINDS["segmentation"].task
CRITERIA = GateCriteria(MetricMargin("dice", margin=0.0), min_patients=5, n_resamples=200)
REPORTS = "registry/decisions"


def add_registry_history(ws: Workspace) -> None:
    """The promotions, rollback and refresh of the module's docstring."""
    with ws.begin() as conn:
        set_reference_case_set(conn, VERSION, CASE_SET)
        new_hash = get_case_set(conn, CASE_SET)["content_hash"]
        append_event(conn, "carol", REFERENCE_REFRESHED, {  # as refresh_reference records it
            "task": TASK.name, "dataset_version": VERSION, "old_case_set": "dv-old-reference",
            "old_hash": "0" * 64, "new_case_set": CASE_SET, "new_hash": new_hash,
            "n_cases": 12, "n_patients": 10, "reason": "the old reference set was spent"})

    def gate(scope: str, run: str, actor: str, **kwargs):
        return promote_through_gate(ws, TASK, scope, run, CRITERIA, actor=actor, **kwargs)

    assert gate("global", "run-001", "bob", force_reason="site lead asked for it").promoted
    rollback(ws, TASK.name, "global", "carol", "dice dropped at site south")
    assert not gate("global", "run-002", "bob").promoted
    assert gate("site:north", "run-000", "alice").promoted
    assert not gate("site:north", "run-001", "alice").promoted


@pytest.fixture(scope="module")
def registry_ws(tmp_path_factory):
    ws = build_sample_workspace(tmp_path_factory.mktemp("registry") / "ws")
    add_registry_history(ws)
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def registry_client(registry_ws, make_client):
    return make_client(registry_ws)


@pytest.fixture(scope="module")
def shown(registry_client) -> dict:
    response = registry_client.get("/api/registry")
    assert response.status_code == 200
    return response.json()


def scope_of(shown: dict, scope: str) -> dict:
    [task] = shown["tasks"]
    return next(s for s in task["scopes"] if s["scope"] == scope)


def test_api_lists_every_scope_with_its_champion_and_budget(shown):
    RegistryPage.model_validate(shown)
    [task] = shown["tasks"]
    assert (task["task"], task["reference_case_set"]) == ("knee", CASE_SET)
    assert [s["scope"] for s in task["scopes"]] == ["global", "site:north"]
    glob = scope_of(shown, "global")
    assert glob["champion"]["model_ref"] == "run-000" and glob["champion"]["version"] == 1
    assert (glob["champion_by"], glob["champion_how"]) == ("carol", "rollback")  # restored
    budget = glob["budget"]
    assert (budget["looks"], budget["rule"], budget["alpha"]) == (2, "geometric", 0.05)
    assert budget["spent"] == pytest.approx(0.0375) and budget["spent_share"] == pytest.approx(.75)
    assert budget["next_alpha"] == pytest.approx(0.00625)
    assert budget["protocol"] == "the newest gate decision in this scope"
    assert budget["state"] == "low" and not budget["exhausted"]
    assert budget["advice"].startswith("75% of the reference set's alpha is spent")
    north = scope_of(shown, "site:north")
    assert north["champion"]["model_ref"] == "run-000"
    assert (north["champion_by"], north["champion_how"]) == ("alice", "promote")
    assert north["budget"]["looks"] == 1 and north["budget"]["state"] == "ok"
    assert north["budget"]["advice"] is None


def test_api_history_newest_first_with_each_decision(shown):
    glob = scope_of(shown, "global")["versions"]
    assert [(v["version"], v["model_ref"], v["status"]) for v in glob] == [
        (3, "run-002", "rejected"), (2, "run-001", "rejected"), (1, "run-000", "champion")]
    rejected, forced, first = glob
    assert rejected["summary"].startswith("run-002 is rejected: dice (mean, higher is better)")
    assert (rejected["look"], rejected["chosen_from"]) == (2, 3)
    assert rejected["level"] == pytest.approx(0.0125 / 3)
    assert "picked on the reference set from 3 models" in rejected["chosen_on"]
    assert forced["forced"] and forced["reason"] == "site lead asked for it"
    assert forced["look"] == 1 and forced["level"] == pytest.approx(0.025 / 3)
    assert forced["rolled_back"]["by"] == "carol"
    assert forced["rolled_back"]["reason"] == "dice dropped at site south"
    assert forced["report_uri"] == f"{REPORTS}/knee-global-v2.html"
    # the sample's champion was written without a gate decision: no summary, look or report
    assert (first["summary"], first["look"], first["report_uri"]) == (None, None, None)
    assert first["reason"] == "best on the test set" and not first["forced"]
    assert {v["model_case_set"] for v in glob} == {CASE_SET}
    north = scope_of(shown, "site:north")["versions"]
    assert [(v["version"], v["status"], v["look"]) for v in north] == [
        (2, "rejected", 1), (1, "champion", None)]  # a first version spends no alpha
    assert north[1]["summary"].startswith("run-000 is accepted")
    assert north[1]["report_uri"] == f"{REPORTS}/knee-site-north-v1.html"


def test_api_lists_rollbacks_and_refreshes_newest_first(shown):
    [task] = shown["tasks"]
    assert [(e["action"], e["scope"], e["actor"]) for e in task["events"]] == [
        ("rollback", "global", "carol"), ("reference_refreshed", None, "carol")]
    back, refresh = task["events"]
    assert back["reason"] == "dice dropped at site south"
    assert back["summary"] == "v1 (run-000) is champion again; v2 (run-001) was rolled back"
    assert refresh["reason"] == "the old reference set was spent"
    assert f"dv-old-reference replaced by {CASE_SET} (10 never-seen patients" in (
        refresh["summary"])


def test_budget_is_the_one_registry_show_prints(registry_ws, shown, run_cli):
    printed = json.loads(run_cli("registry", "show", "-w", registry_ws.root, "--json").stdout)
    for row in printed:
        budget = scope_of(shown, row["scope"])["budget"]
        assert {k: budget[k] for k in row["budget"] if k in budget} == {
            k: v for k, v in row["budget"].items() if k in budget}
        assert scope_of(shown, row["scope"])["champion"]["version"] == row["version"]


def test_page_shows_champions_the_highlighted_advice_and_history(registry_client):
    response = registry_client.get("/registry")
    assert response.status_code == 200
    html = response.text
    assert '<a href="/registry">Registry</a>' in html  # the site's navigation
    champions = html.split('<table class="data registry-champions">')[1].split("</table>")[0]
    assert re.search(r'<tr data-scope="global">.*?href="/models/run-000\?case_set=dv-sample-test"'
                     r'>run-000</a>.*?v1.*?carol <span class="muted">\(restored by a rollback',
                     champions, re.S)
    assert '<td class="budget-cell low">2 looks, 75% of alpha spent' in champions
    assert 'refresh advised</span>' in champions
    glob = html.split('data-scope="global">', 2)[2].split("</section>")[0]
    assert '<div class="budget low" data-state="low">' in glob
    assert ('<p class="advice" role="alert"><strong>Refresh advised:</strong> 75% of the '
            "reference set&#39;s alpha is spent; the next look runs at 0.00625") in glob
    assert "alpha spent <strong>0.0375</strong> of 0.05 (75%)" in glob
    assert "read from the newest gate decision in this scope" in glob
    rows = re.findall(r'<tr data-version="(\d+)" data-status="(\w+)"', glob)
    assert rows == [("3", "rejected"), ("2", "rejected"), ("1", "champion")]
    forced = glob.split('<tr data-version="2"')[1].split("</tr>")[0]
    assert '<span class="badge forced" title="site lead asked for it">forced</span>' in forced
    assert "rolled back by carol on " in forced and "dice dropped at site south" in forced
    assert "look 1 · 0.00833" in forced and "K = 3" in forced
    assert f'href="/artifacts/{REPORTS}/knee-global-v2.html">decision report</a>' in forced
    north = html.split('data-scope="site:north">', 2)[2].split("</section>")[0]
    assert '<div class="budget ok" data-state="ok">' in north and "role=\"alert\"" not in north
    assert "first version: no look" in north
    events = html.split('<table class="data registry-events">')[1].split("</table>")[0]
    assert '<tr data-action="rollback">' in events and "every scope" in events


def test_decision_report_link_serves_the_report(registry_client):
    page = registry_client.get("/registry").text
    links = re.findall(r'href="(/artifacts/registry/decisions/[^"]+)"', page)
    assert sorted(set(links)) == [f"/artifacts/{REPORTS}/knee-global-v2.html",
                             f"/artifacts/{REPORTS}/knee-global-v3.html",
                             f"/artifacts/{REPORTS}/knee-site-north-v1.html",
                             f"/artifacts/{REPORTS}/knee-site-north-v2.html"]
    response = registry_client.get(f"/artifacts/{REPORTS}/knee-global-v2.html")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "sandbox" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "<h1>Promotion decision for run-001: REJECTED</h1>" in response.text


@pytest.mark.parametrize("path", [
    "registry/notes.html",                           # beside the folder, not in it
    "registry/decisions/old/knee-global-v1.html",    # a subfolder
    "page.html",                                     # HTML elsewhere in the workspace
    "registry/decisions/knee-global-v2.json",        # not a page the registry links
    "registry/decisions/../notes.html",
    "registry/decisions/%2e%2e/notes.html",
    "registry/decisions/..%2f..%2fmedselect.db",
    "registry/decisions/../../../outside.html",
    "registry/decisions/escape.html",                # a symlink out of the workspace
    "registry/decisions/inside-link.html",           # a symlink to HTML elsewhere inside
])
def test_nothing_but_the_decision_reports_is_served(registry_ws, registry_client, path):
    root = registry_ws.root
    outside = root.parent / "outside.html"
    outside.write_text("<p>secret</p>")
    for name in ("registry/notes.html", "registry/decisions/old/knee-global-v1.html",
                 "page.html"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("<p>secret</p>")
    for link, target in (("escape.html", outside), ("inside-link.html", root / "page.html")):
        if not (root / REPORTS / link).is_symlink():
            os.symlink(target, root / REPORTS / link)
    response = registry_client.get(f"/artifacts/{path}")
    assert response.status_code == 404
    assert b"secret" not in response.content


def test_a_workspace_without_reference_set_says_why_there_is_no_budget(client):
    """The shared sample: a champion promoted without a gate (its audit event says so), no
    reference set."""
    [task] = client.get("/api/registry").json()["tasks"]
    [scope] = task["scopes"]
    assert scope["champion"]["model_ref"] == "run-000" and scope["champion_how"] == "promote"
    assert scope["budget"] is None and "has no reference case set" in scope["budget_note"]
    assert task["events"] == []
    html = client.get("/registry").text
    assert "No error budget: dataset version" in html
    assert "None: no rollback, and the reference set was never refreshed." in html


def test_an_empty_registry_says_how_to_promote(tmp_path, make_client):
    ws = Workspace.create(tmp_path / "empty")
    try:
        client = make_client(ws)
        assert client.get("/api/registry").json() == {
            "tasks": [], "advise_refresh_at": 0.75,
            "audit": {"ok": True, "n_events": 0, "first_bad_seq": None, "problem": None,
                      "head_seq": None, "head_hash": None}}
        response = client.get("/registry")
    finally:
        ws.dispose()
    assert response.status_code == 200
    assert '<section class="empty" id="registry-empty">' in response.text
    assert "Nothing was promoted yet" in response.text
    assert "<code>medselect promote RUN_ID</code>" in response.text


def test_registry_links():
    assert ServerLinks("x").registry() == "/registry"
    assert ServerLinks().model_on("run 1", "val") == "/models/run%201?case_set=val"
    assert ServerLinks().model_on("run-1", None) is None
    links = StaticLinks(models=["run-1"]).at(1)
    assert links.registry() == "../registry.html"
    assert links.model_on("run-1", None) == "../models/run-1.html"
    assert links.model_on("run-2", "val") is None  # no page of it was exported


@pytest.fixture(scope="module")
def report(registry_ws, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("registry-report")
    export_static(registry_ws, out, n_resamples=50)
    return out


def test_static_export_has_the_page_and_copies_of_the_reports(report):
    page = (report / "registry.html").read_text()
    assert "Refresh advised:" in page and '<tr data-version="3" data-status="rejected"' in page
    assert 'href="models/run-000.html">run-000</a>' in page
    copies = sorted(p.name for p in (report / "artifacts" / REPORTS).iterdir())
    assert copies == ["knee-global-v2.html", "knee-global-v3.html", "knee-site-north-v1.html",
                      "knee-site-north-v2.html"]
    assert "Promotion decision for run-002" in (
        report / "artifacts" / REPORTS / "knee-global-v3.html").read_text()
    assert 'href="registry.html">Registry</a>' in (report / "index.html").read_text()
    assert 'href="../registry.html">Registry</a>' in (
        report / "models" / "run-001.html").read_text()
    for link in re.findall(r'(?:href|src)="([^"]+)"', page):
        link = unescape(link)
        assert not link.startswith(("/", "http:", "https:")), link
        assert (report / unquote(urlsplit(link).path)).resolve().is_file(), link


def test_the_audit_chain_is_verified_on_every_view(registry_client):
    audit = registry_client.get("/api/registry").json()["audit"]
    assert audit["ok"] and audit["n_events"] >= 5 and audit["problem"] is None
    html = registry_client.get("/registry").text
    assert '<section class="audit ok" id="audit" data-ok="true">' in html
    assert f"newest event {audit['head_seq']}, hash <code" in html
    assert audit["head_hash"][:16] in html


def test_an_edited_audit_log_shows_at_once(tmp_path, make_client):
    ws = build_sample_workspace(tmp_path / "ws")
    add_registry_history(ws)
    try:
        client = make_client(ws)
        assert client.get("/api/registry").json()["audit"]["ok"]
        with ws.begin() as conn:  # someone rewrites a rollback's reason behind medselect
            event = conn.execute(sa.select(audit_event).where(
                audit_event.c.action == "rollback")).mappings().one()
            conn.execute(audit_event.update().where(audit_event.c.seq == event["seq"]).values(
                payload={**event["payload"], "reason": "nothing happened"}))
        audit = client.get("/api/registry").json()["audit"]
        html = client.get("/registry").text
    finally:
        ws.dispose()
    assert not audit["ok"] and audit["first_bad_seq"] == event["seq"]
    assert "does not match its hash" in audit["problem"]
    assert '<section class="audit broken" id="audit" data-ok="false">' in html
    assert f"Audit log broken at event {event['seq']}" in html


def test_each_champion_comes_with_its_evidence(registry_client):
    html = registry_client.get("/registry").text
    champions = re.search(r'<table class="data registry-champions">(.*?)</table>', html,
                          re.S).group(1)
    assert "<th>Evidence</th>" in champions
    north = re.search(r'<tr data-scope="site:north">(.*?)</tr>', champions, re.S).group(1)
    page = registry_client.get("/api/registry").json()
    scope = next(s for s in page["tasks"][0]["scopes"] if s["scope"] == "site:north")
    assert unescape(scope["champion"]["summary"]) in unescape(north)
    assert f'href="/artifacts/{REPORTS}/knee-site-north-v1.html">decision report' in north
    restored = re.search(r'<tr data-scope="global">(.*?)</tr>', champions, re.S).group(1)
    assert "recorded without a gate decision" in restored  # the sample's own v1


def test_a_versions_model_card_page_says_what_the_card_files_say(registry_ws, registry_client):
    html = registry_client.get("/registry/cards/knee/site:north/1").text
    with registry_ws.connect() as conn:
        card = model_card(conn, "knee", "site:north", 1)
    text = card_context(card, lambda uri: None)
    assert f"<h1>{text['title']} <span class=\"badge status champion\">" in html
    for f in text["figures"]:  # the card's own figures per site, with interval and patients
        assert (f'<tr data-metric="{f["metric"]}" data-site="{f["site"]}"><td>{f["metric"]}'
                f'</td><td>{f["label"]}</td><td>{f["site"]}</td><td class="num"><strong>'
                f'{f["value"]}</strong></td><td class="num ci-text">{f["interval"]}</td>'
                f'<td class="num">{f["patients"]}</td>') in html
    assert [f["site"] for f in text["figures"]] == ["(all)", "north", "south"]
    assert text["decision"]["summary"] in html and "first version of its scope" in html
    assert 'href="/artifacts/registry/decisions/knee-site-north-v1.html"' in html
    for name, value in text["intended"]:
        assert f"<td>{escape(value)}</td>" in html, name
    assert "<th>Architecture</th><td>unet</td>" in html
    limits = re.findall(r"<li>([^<]*)</li>", html.split('class="card-limits">')[1])
    assert limits == [str(escape(limit)) for limit in card.limits] and limits
    # the worst cases, worst first, each its overlay linking to its case page
    worst = re.findall(r'<tr data-case="([^"]+)">\s*<td><a href="([^"]+)"><img class="thumb" '
                       r'src="([^"]+)"', html)
    assert [w[0] for w in worst] == [w.case_id for w in card.worst_cases]
    case_id, href, src = worst[0]
    assert unescape(href) == f"/cases/{case_id}?case_set={CASE_SET}&metric=dice&label=mean"
    assert src == f"/artifacts/evaluations/ev-run-000/{case_id}.png"
    assert registry_client.get(src).status_code == 200
    assert registry_client.get(unescape(href)).status_code == 200


def test_a_forced_rolled_back_version_card_names_both(registry_client):
    html = registry_client.get("/registry/cards/knee/global/2").text
    assert "<strong>Promoted past the gate:</strong> site lead asked for it" in html
    assert "rolled back by carol: dice dropped at site south" in html
    assert "v1 (run-000, now champion)" in html  # the version it was compared with


def test_the_card_api_is_the_cards_dict_and_a_missing_version_is_404(registry_ws,
                                                                      registry_client):
    shown = registry_client.get("/api/registry/cards/knee/global/3").json()
    with registry_ws.connect() as conn:
        card = model_card(conn, "knee", "global", 3).to_dict()
    assert {k: v for k, v in shown.items() if k != "generated_at"} == json.loads(json.dumps(
        {k: v for k, v in card.items() if k != "generated_at"}))
    assert shown["version"]["model_ref"] == "run-002" and not shown["decision"]["accepted"]
    for url in ("/api/registry/cards/knee/global/9", "/registry/cards/knee/global/9",
                "/registry/cards/hip/global/1"):
        response = registry_client.get(url)
        assert response.status_code == 404, url
    assert "scope 'global' 9 is not in the workspace" in registry_client.get(
        "/api/registry/cards/knee/global/9").json()["detail"]


def test_registry_and_model_pages_link_every_versions_card(registry_client):
    html = registry_client.get("/registry").text
    cards = set(re.findall(r'<a class="card" href="([^"]+)">model card</a>', html))
    assert cards == {"/registry/cards/knee/global/1", "/registry/cards/knee/global/2",
                     "/registry/cards/knee/global/3", "/registry/cards/knee/site%3Anorth/1",
                     "/registry/cards/knee/site%3Anorth/2"}
    assert all(registry_client.get(c).status_code == 200 for c in cards)
    model = registry_client.get("/models/run-000").text
    assert re.findall(r'<a class="card" href="([^"]+)"', model) == [
        "/registry/cards/knee/global/1", "/registry/cards/knee/site%3Anorth/1"]
    assert "global v1 (champion) · model card" in model
    page = registry_client.get("/api/models/run-001").json()
    assert [(v["scope"], v["version"], v["status"]) for v in page["versions"]] == [
        ("global", 2, "rejected"), ("site:north", 2, "rejected")]  # v2 rolled back


def test_static_export_writes_every_card_with_working_links(report):
    registry = (report / "registry.html").read_text()
    cards = sorted(set(re.findall(r'<a class="card" href="(cards/[^"]+)">', registry)))
    assert len(cards) == 5 and all((report / c).is_file() for c in cards)
    page = (report / StaticLinks.card_file("knee", "site:north", 1)).read_text()
    assert "Model card: knee, site:north, v1" in page
    assert 'src="../artifacts/evaluations/ev-run-000/' in page
    assert re.search(r'<a href="\.\./cases/case-\d+\.html"><img class="thumb"', page)
    for link in re.findall(r'(?:href|src)="([^"]+)"', page):
        link = unescape(link)
        assert not link.startswith(("/", "http:", "https:")), link
        assert (report / "cards" / unquote(urlsplit(link).path)).resolve().is_file(), link
    assert 'href="../cards/knee-global-v1.html"' in (report / "models" / "run-000.html"
                                                     ).read_text()


def test_a_card_without_reference_set_says_no_figure_speaks_for_it(client):
    """The shared sample: run-000 champion recorded without a gate, no reference set."""
    response = client.get("/registry/cards/knee/global/1")
    assert response.status_code == 200
    html = response.text
    assert "task &#39;knee&#39; has no reference case set, so no figure here speaks" in html
    assert "No gate metric is recorded with this version" in html
    assert "No per-case values on the reference set." in html
    assert '<a href="/models/run-000?case_set=dv-sample-test">run-000</a> is champion' in html
    assert client.get("/api/registry/cards/knee/global/1").json()["reference_case_set"] is None
