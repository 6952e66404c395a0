"""MkDocs hooks: the reference pages that are generated from the code, so they cannot drift.

- ``reference/experiment.md``: every section and field of the experiment file, from the
  pydantic models (type, default, description).
- ``reference/metrics.md``: every metric, from its spec (definition, direction, unit, empty-mask
  policy, whether it is per case).
- ``guide/tutorial.md``: ``docs/tutorial.py`` (which CI runs) shown as a page.
"""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

from mkdocs.structure.files import File
from pydantic import BaseModel

DOCS = Path(__file__).parent


def on_files(files, config):
    for uri, content in (("reference/experiment.md", experiment_reference()),
                         ("reference/metrics.md", metric_reference()),
                         ("guide/tutorial.md", tutorial_page())):
        files.append(File.generated(config, uri, content=content))
    return files


def experiment_reference() -> str:
    from medselect.config import Experiment

    lines = ["# Experiment file reference", "",
             "Generated from the pydantic models in `medselect.config`. Every field has a "
             "default unless it is marked required; unknown keys are refused with the file, "
             "field and line. The annotated example is `examples/knee-segmentation.yaml`.", ""]
    for name, field in Experiment.model_fields.items():
        if field.exclude:
            continue
        lines += _section(name, field.annotation, level=2)
    return "\n".join(lines) + "\n"


def _models(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (a union lists each)."""
    args = typing.get_args(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in args for m in _models(a)]


def _section(path: str, annotation, level: int) -> list[str]:
    out = []
    for model in _models(annotation):
        kind = model.model_fields.get("kind")
        title = path + (f" (kind: {kind.default})" if kind is not None and
                        isinstance(kind.default, str) else "")
        doc = inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        out += [f"{'#' * level} `{title}`", "", doc, "",
                "| field | type | default | meaning |", "|---|---|---|---|"]
        nested = []
        for name, field in model.model_fields.items():
            if field.exclude:
                continue
            default = "required" if field.is_required() else (
                "(computed)" if field.default_factory else f"`{field.default!r}`")
            kind_of = _type_name(field.annotation)
            text = (field.description or "").replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{name}` | {kind_of} | {default} | {text} |")
            if _models(field.annotation):
                nested.append((f"{path}.{name}", field.annotation))
        out.append("")
        for sub, ann in nested:
            out += _section(sub, ann, min(level + 1, 6))
    return out


def _type_name(annotation) -> str:
    generic = bool(typing.get_args(annotation))
    text = str(annotation) if generic else getattr(annotation, "__name__", str(annotation))
    text = re.sub(r"\b(?:typing|pathlib|medselect\.[\w.]+)\.", "", text)
    text = text.replace("Optional[", "").rstrip("]") + " | None" if text.startswith(
        "Optional[") else text
    text = text.replace("NoneType", "None").replace("|", "\\|")
    if len(text) >= 60:  # an Annotated list of constrained names: its container is enough
        text = getattr(typing.get_origin(annotation), "__name__", "object")
    return f"`{text}`"


def metric_reference() -> str:
    from medselect.metrics import METRICS

    lines = ["# Metric reference", "",
             "Generated from the metric specs in `medselect.metrics`. Per-case metrics are "
             "computed on each case; set metrics (AUC, ECE, ...) over a set of cases when "
             "ranking. Surface distances follow MONAI's definitions and are tested to agree "
             "with MONAI (`tests/unit/metrics`).", "",
             "| metric | family | better | unit | per case | empty masks |",
             "|---|---|---|---|---|---|"]
    for name, spec in METRICS.items():
        empty = "—" if spec.empty is None else (
            f"both empty: {spec.empty.both_empty}; prediction empty: {spec.empty.pred_empty}; "
            f"reference empty: {spec.empty.ref_empty}")
        lines.append(f"| [`{name}`](#{name.replace('.', '')}) | {spec.family} | "
                     f"{spec.direction.value} | {spec.unit} | {'yes' if spec.per_case else 'no'}"
                     f" | {empty} |")
    lines.append("")
    for name, spec in METRICS.items():
        lines += [f"## {name}", "", spec.definition, ""]
    return "\n".join(lines) + "\n"


def tutorial_page() -> str:
    code = (DOCS / "tutorial.py").read_text(encoding="utf-8")
    doc, _, body = code.partition('"""\n\n')
    return (inspect.cleandoc(doc.removeprefix('"""')) + "\n\n```python\n" + body.strip()
            + "\n```\n\nThe suite runs this file (`tests/unit/test_tutorial.py`), so it stays "
              "true.\n")
