"""A small thread-safe LRU cache for results that are costly to compute and cheap to keep.

Keys hold everything a result depends on, including the fingerprint of the evaluations it was
computed from (their ids, statuses and times, and the stamp each write of per-case values
leaves), so a new or recomputed evaluation never serves a
stale result: its key simply differs, and old entries fall out of the LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class ResultCache:
    """Least-recently-used cache holding at most ``size`` entries, or with ``weigh``, entries
    weighing at most ``size`` in all (a value heavier than that alone is returned, not kept).

    Example::

        cache = ResultCache(32)
        board = cache.get_or_compute(("leaderboard", key), lambda: compute(key))
        volumes = ResultCache(256 * 2**20, weigh=len)  # bytes values, 256 MiB in all
    """

    def __init__(self, size: int, weigh: Callable[[Any], int] | None = None) -> None:
        self.size = size
        self._weigh = weigh or (lambda _: 1)
        self._weight = 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, else ``compute()`` stored under it.

        A thread asking for a key another thread is computing waits for that result (the
        model choice of a large workspace takes many seconds: the warm-up at startup and the
        first page view must not both compute it); a failed computation is not cached, and
        the waiters get its error.
        """
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = Future()
        if not owner:
            return pending.result()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            pending.set_exception(exc)
            raise
        weight = self._weigh(value)
        with self._lock:
            del self._pending[key]
            if weight <= self.size:  # a heavier value would only flush the others out
                self._items[key] = value
                self._weight += weight
            while self._weight > self.size:
                self._weight -= self._weigh(self._items.popitem(last=False)[1])
        pending.set_result(value)
        return value

    def peek(self, key: Hashable) -> Any | None:
        """The cached value of ``key`` (marked as used), or None: for a result that another
        one, when already computed, makes unnecessary."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._items)
