"""A mapping whose keys are known at once and whose values are computed when first read.

A report holds parts that some readers never look at (every site's ranking beside the overall
one, at 200 models x 2000 cases a second of bootstrap and tests): they are computed on first
access, once, and every reader gets the same values as an eager computation would give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import TypeVar

__all__ = ["LazyMapping"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LazyMapping(Mapping[K, V]):
    """``keys`` -> ``compute(key)``, each computed on first read and kept (thread-safe: a
    dashboard shares one report between requests). A failed computation is not kept: its
    error is raised to each reader."""

    def __init__(self, keys: Iterable[K], compute: Callable[[K], V]) -> None:
        self._keys = tuple(dict.fromkeys(keys))
        self._compute = compute
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: K) -> V:
        if key not in self._values:
            if key not in self._keys:
                raise KeyError(key)
            with self._lock:
                if key not in self._values:
                    self._values[key] = self._compute(key)
        return self._values[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def computed(self, key: K) -> bool:
        """Whether ``key``'s value was computed yet (for tests and cache accounting)."""
        return key in self._values

    def __repr__(self) -> str:
        return f"LazyMapping({list(self._keys)!r}, computed={list(self._values)!r})"
