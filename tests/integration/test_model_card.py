"""Model cards of trained champions: written at promotion, the worst cases' overlays linked
where they lie, and `medselect card` for a site champion."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.slow


def test_promotion_wrote_each_champions_card_with_its_overlays(champions):
    cards = champions.ws / "registry" / "cards" / "knee"
    for folder, model in (("global", champions.weak), ("site-site-b", champions.strong)):
        page = (cards / folder / "v1.html").read_text()
        assert model in page and "Metrics per site" in page
        overlays = re.findall(r'href="([^"]+\.png)"', page)
        assert overlays and all((cards / folder / href).resolve().is_file()
                                for href in overlays)
        text = (cards / folder / "v1.md").read_text()
        assert "| dice | mean | site-b |" in text and "| hd95 | mean | (all) |" in text


def test_card_command_for_a_site_champion(run_cli, champions, tmp_path):
    done = run_cli("card", "-w", champions.ws, "--scope", "site:site-b", "--json")
    assert done.code == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["sites"] == ["site-b"] and card["training_sites"] == ["site-a", "site-b"]
    assert card["training"]["epochs"] == 4 and card["decision"]["accepted"]
    assert {w["site"] for w in card["worst_cases"]} == {"site-b"}  # its own site's cases
    by_group = {(f["metric"], f["group"]): f for f in card["figures"]}
    assert set(by_group) == {(m, g) for m in ("dice", "hd95")
                             for g in ("(all)", "site-a", "site-b")}
    site_b = by_group["dice", "site-b"]
    assert site_b["n_patients"] >= 1 and site_b["value"] is not None
    assert card["files"]["html"].endswith("registry/cards/knee/site-site-b/v1.html")


def test_the_python_face_answers_as_the_commands(champions, champions_ws, tmp_path):
    import medselect as ms

    card = ms.model_card(champions_ws, scope="site:site-b")
    assert (card.version.model_ref, card.sites) == (champions.strong, ("site-b",))
    images = champions.ws / "sources" / "knee-phantom" / "images"
    report = ms.predict(champions_ws, images, tmp_path / "p", site="site-b")
    assert {(c.scope, c.model_ref) for c in report.cases} == {("site:site-b", champions.strong)}
    exported = ms.export_models(champions_ws, ["global", "site:site-b"], "torchscript",
                                tmp_path / "e")
    assert [m.model_ref for m in exported.models] == [champions.weak, champions.strong]
    assert exported.routing == tmp_path / "e" / "routing.json"
