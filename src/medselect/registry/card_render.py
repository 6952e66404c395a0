"""A model card as Markdown and as a standalone HTML page, from Jinja2 templates.

Both render the same context (:func:`card_context`), so they say the same; the HTML page is
autoescaped, needs no other file, and links the worst cases' overlay images where they lie in
the workspace. Cards are written atomically, by default where
:func:`~medselect.registry.locations.card_uri` says (one per promoted version).

Example::

    with ws.connect() as conn:
        card = model_card(conn, "knee", "global")
    markdown_path, html_path = write_model_card(ws, card)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from medselect.choose import Confirmation
from medselect.jsonsafe import json_number
from medselect.metrics.display import interval_text, value_text
from medselect.registry.cards import ModelCard
from medselect.registry.locations import card_uri, decision_report_uri, report_name
from medselect.registry.pages import PAGE_STYLE, row_cell
from medselect.registry.pages import cell as cell_text
from medselect.store import Workspace, atomic_write_text

__all__ = ["card_context", "render_card_html", "render_card_markdown", "write_model_card"]

Link = Callable[[str], str | None]
"""Workspace-relative path -> the link a card shows for it (None: no link)."""

_RESULT_COLUMNS = ("name", "incumbent", "metric", "label", "site", "n_patients", "statistic",
                   "ci", "p_value", "level", "threshold", "passed")


def render_card_markdown(card: ModelCard, link: Link = lambda uri: None) -> str:
    """The card as Markdown (the text of an exported bundle's ``docs/README.md``)."""
    return _environment().get_template("model_card.md.j2").render(card_context(card, link))


def render_card_html(card: ModelCard, link: Link = lambda uri: None) -> str:
    """The card as one standalone HTML page."""
    return _environment().get_template("model_card.html.j2").render(
        card_context(card, link), style=markupsafe.Markup(PAGE_STYLE))


def write_model_card(ws: Workspace, card: ModelCard,
                     folder: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """Write the card's ``.md`` and ``.html`` (default: where
    :func:`~medselect.registry.locations.card_uri` puts them in the workspace, else as
    ``<task>-<scope>-v<N>`` in ``folder``); return both paths. Overlay images and the decision
    report are linked relative to the card, so the workspace folder can move."""
    if folder is None:
        paths = (ws.path(card_uri(card.version, ".md")), ws.path(card_uri(card.version)))
    else:
        stem = Path(folder) / report_name(card.version)
        paths = (stem.with_name(f"{stem.name}.md"), stem.with_name(f"{stem.name}.html"))
    here = paths[0].parent.resolve()

    def link(uri: str) -> str | None:
        target = ws.path(uri)
        return Path(os.path.relpath(target.resolve(), here)).as_posix() if target.exists() \
            else None

    atomic_write_text(paths[0], render_card_markdown(card, link))
    atomic_write_text(paths[1], render_card_html(card, link))
    return paths


def card_context(card: ModelCard, link: Link) -> dict[str, Any]:
    """What both templates show, as display text: every number formatted once, here."""
    version, decision = card.version, card.decision
    look = decision.get("look") or {}
    return {
        "title": f"Model card: {card.task}, {card.scope}, v{version.version}",
        "version": version,
        "status": version.status,
        "generated_at": card.generated_at.isoformat(timespec="seconds"),
        "reference": card.reference_case_set or "none",
        "intended": [
            ("task", f"{card.task} ({card.family})"),
            ("outputs", ", ".join(card.outputs) or "–"),
            ("scope", card.scope),
            ("sites it serves", ", ".join(card.sites) or "–"),
            ("trained on dataset version", version.dataset_version or "–"),
            ("training sites", ", ".join(card.training_sites) or "–"),
            ("judged on reference set", card.reference_case_set or "–"),
        ],
        "made_elsewhere": card.training is None,
        "training": [(k, _setting(v)) for k, v in (card.training or {}).items()],
        "figures": [_figure(f) for f in card.figures],
        "decision": {
            "summary": decision.get("summary") or "no gate decision is recorded",
            "accepted": bool(decision.get("accepted")),
            "forced": version.reason,
            "level": cell_text(look.get("alpha")),
            "how": look.get("description") or "",
            "patients": decision.get("n_patients"), "cases": decision.get("n_cases"),
            "report": link(decision_report_uri(version)),
        },
        "beaten": [f"v{b.version} ({b.model_ref}, now {b.status})" for b in card.beaten],
        "results": [[row_cell(r, c) for c in _RESULT_COLUMNS]
                    for r in decision.get("results") or []],
        "result_columns": _RESULT_COLUMNS,
        "case_metric": " ".join(card.case_metric),
        "worst": [{"case": w.case_id, "patient": w.patient_id, "site": w.site,
                   "value": "no prediction" if w.value is None
                   else value_text(w.value, card.case_metric[0], 4),
                   "reviews": "–" if w.verdicts is None
                   else f"{w.verdicts[0]} of {w.verdicts[1]} accepted",
                   "overlay": link(w.overlay_uri) if w.overlay_uri else None}
                  for w in card.worst_cases],
        "limits": list(card.limits),
    }


def _figure(figure: Confirmation) -> dict[str, str]:
    value, low, high = (json_number(v) for v in (figure.value, figure.ci_low, figure.ci_high))
    shown = value_text(value, figure.metric, 4)
    if figure.corrected is not None:
        corrected = json_number(figure.corrected.corrected)
        shown += f" (bias-corrected {value_text(corrected, figure.metric, 4)})"
    return {"metric": figure.metric, "label": figure.label, "site": figure.group,
            "value": shown, "interval": interval_text((low, high), figure.metric, 4),
            "patients": str(figure.n_patients),
            "cases": str(figure.n_cases), "note": figure.note or ""}


def _setting(value: Any) -> str:
    """A training setting: a list (an input size) as its items, not as an interval."""
    return " x ".join(map(str, value)) if isinstance(value, list | tuple) else cell_text(value)


def _markdown_cell(value: Any) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return str(value).replace("|", "\\|").replace("\n", " ")


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("medselect.registry", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    environment.filters["cell"] = _markdown_cell
    return environment
