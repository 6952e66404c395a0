"""YAML reading that keeps positions: syntax errors and duplicate keys are located by line and
column, and a field path (``("sweep", "space", "loss", 2)``) can be mapped back to its line.

PyYAML's safe loader is used (no Python objects are ever built from the file). A repeated key is
an error here, where PyYAML would silently keep the last value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from medselect.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool | None):
                raise yaml.constructor.ConstructorError(
                    f"while reading the mapping that starts on line {node.start_mark.line + 1}",
                    node.start_mark,
                    f"a {type(key).__name__} is used as a key (extra braces or brackets?); "
                    "keys are names",
                    key_node.start_mark,
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    f"while reading the mapping that starts on line {node.start_mark.line + 1}",
                    node.start_mark,
                    f"key {key!r} is repeated (first on line {seen[key]}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str, source_name: str) -> tuple[Any, Node | None]:
    """The data of one YAML document and its node tree (None for an empty document).

    Raises:
        ConfigError: malformed YAML or a repeated key, with the line and column.
    """
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "cannot be parsed"
        raise ConfigError(
            f"{source_name}: {where}malformed YAML: {problem}; fix the syntax there"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source_name}: malformed YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, node


def line_of(node: Node | None, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the deepest part of ``path`` that the file spells out.

    A mapping key is located by the key itself, a list item by the item; a path that leaves the
    file (a default that was not written) stops at the last part that is there, and one whose
    first part is not there has no line (None).
    """
    line = None
    for part in path:
        found: Node | None = None
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) == str(part):
                    line, found = key.start_mark.line + 1, value
                    break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
            line = found.start_mark.line + 1
        if found is None:
            break
        node = found
    return line
