"""A size-bounded LRU cache of compiled modules, keyed by code id.

Bounded twice: by entry count and by the total size of the cached modules'
bytes (a fair proxy for the memory their compiled code takes). Hits and
misses are counted for the broker's statistics, and ``generation`` changes
whenever the set of cached keys does, so a worker reports its cache contents
to the broker only when they changed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

DEFAULT_ENTRIES = 64
DEFAULT_BYTES = 64 * 1024 * 1024


class ModuleCache(Generic[V]):
    """Least-recently-used mapping from code id to a compiled module."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_BYTES) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a module cache needs room for at least one entry and one byte")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self.total_bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.generation = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> V | None:
        """The cached value (now most recently used), counting a hit or a miss."""
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: str, value: V, size: int) -> None:
        """Insert (or replace) a value of ``size`` bytes, evicting the least recently used."""
        if key in self._items:
            self.total_bytes -= self._items.pop(key)[1]
        self._items[key] = (value, size)
        self.total_bytes += size
        self.generation += 1
        self._evict()

    def pop(self, key: str) -> tuple[V, int] | None:
        """Take an entry out (value and size), counting no hit or miss: it moves to another tier."""
        item = self._items.pop(key, None)
        if item is not None:
            self.total_bytes -= item[1]
            self.generation += 1
        return item

    def _evict(self) -> None:
        """Drop old entries until both bounds hold; the newest entry always stays."""
        while len(self._items) > 1 and (
            len(self._items) > self.max_entries or self.total_bytes > self.max_bytes
        ):
            _, (_, size) = self._items.popitem(last=False)
            self.total_bytes -= size
            self.evictions += 1

    def keys(self) -> list[str]:
        """Cached code ids, least recently used first."""
        return list(self._items)
