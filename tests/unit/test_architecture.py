"""The layer rules of the README's architecture table, enforced on the source tree.

Every ``import`` in every module (at the top or inside a function) is read with ``ast``: no
module imports a package of a higher layer; no module outside ``medselect.store`` writes SQL
(builds statements or executes them) or reads the table definitions; no module outside
``medselect.dashboard`` imports FastAPI or Starlette (the CLI may start uvicorn); the low
layers never import torch at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import medselect

SRC = Path(medselect.__file__).parent

LAYERS: dict[str, int] = {
    "errors": 0, "casetable": 0, "jsonsafe": 0, "config": 0, "store": 0,
    "data": 1, "metrics": 1, "rank": 1,
    "tasks": 2, "train": 2, "choose": 2,
    "sweep": 3, "evaluate": 3,
    "registry": 4,
    "api": 5, "dashboard": 5, "deploy": 5, "testing": 5,
    "cli": 6,
}
"""Top-level package (or module) of medselect -> its layer; each imports only lower ones or
its own."""

SQL_CALLS = frozenset({"select", "insert", "update", "delete", "text", "execute",
                       "exec_driver_sql", "scalar", "scalars"})
NO_TORCH_AT_IMPORT = ("casetable", "config", "store", "data", "metrics", "rank", "choose")


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def package_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imported(tree: ast.AST, path: Path) -> list[tuple[str, int, bool]]:
    """``(module, line, at_module_level)`` of every import in ``tree``."""
    top = {id(node) for node in tree.body} if isinstance(tree, ast.Module) else set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = path.relative_to(SRC.parent).with_suffix("").parts[:-node.level]
                name = ".".join(base + ((node.module,) if node.module else ()))
            else:
                name = node.module or ""
            found.append((name, node.lineno, id(node) in top))
    return found


def test_every_package_has_a_layer():
    assert {package_of(p) for p in modules()} - {"__init__"} <= set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_go_down(path):
    own = package_of(path)
    if own == "__init__":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    upward = []
    for name, line, _ in imported(tree, path):
        parts = name.split(".")
        if parts[0] == "medselect" and len(parts) > 1 and parts[1] in LAYERS:
            other = parts[1]
            if other != own and LAYERS[other] > LAYERS[own]:
                upward.append(f"line {line}: {name} (layer {LAYERS[other]} > {LAYERS[own]})")
    assert not upward, f"{path.relative_to(SRC)} imports upward: {upward}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_sql_outside_the_store(path):
    if package_of(path) == "store":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"line {line}: imports {name}" for name, line, _ in imported(tree, path)
             if name.startswith("medselect.store.schema")]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in SQL_CALLS:
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in ("sa", "sqlalchemy", "conn"):
                found.append(f"line {node.lineno}: {owner.id}.{node.func.attr}(...)")
    assert not found, f"{path.relative_to(SRC)} writes SQL outside medselect.store: {found}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_web_framework_only_in_the_dashboard(path):
    if package_of(path) == "dashboard":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    web = [f"line {line}: {name}" for name, line, _ in imported(tree, path)
           if name.split(".")[0] in ("fastapi", "starlette")]
    assert not web, f"{path.relative_to(SRC)} imports a web framework: {web}"


@pytest.mark.parametrize("path", [p for p in modules() if package_of(p) in NO_TORCH_AT_IMPORT],
                         ids=lambda p: str(p.relative_to(SRC)))
def test_low_layers_do_not_import_torch_at_module_level(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    torch = [f"line {line}: {name}" for name, line, top in imported(tree, path)
             if top and name.split(".")[0] in ("torch", "monai")]
    assert not torch, f"{path.relative_to(SRC)} imports torch when imported: {torch}"
