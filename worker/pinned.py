"""Pinned modules on a worker: a map in front of the LRU, holding what the broker pinned.

The broker names the pinned code ids (a HEARTBEAT carries the whole set,
:class:`~wasmpool.worker.session.WorkerSession` keeps it); the worker loads
each between jobs, and :class:`PinnedCache` keeps the loaded ones outside
the LRU: they never count against its entries or bytes and are never
evicted. Unpinning hands a module back to the LRU (it then ages out like any
other). A module pinned while it sits in the LRU moves over at once, with no
fetch and no compilation.

The cache answers to the worker as the LRU does (``get``, ``put``, ``keys``,
hit and miss counters, a ``generation`` that changes with the reported
contents), so the rest of the worker uses it in the LRU's place; the
cache report lists pinned modules among the cached ones, which is how the
broker's statistics tell per worker whether each pinned module is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

V = TypeVar("V")

RETRY_AFTER = 30.0
"""Seconds before a pinned module that failed to load (no answer, a bad module) is tried again."""


class Lower(Protocol[V]):
    """The tier behind the pinned map (the LRU): what :class:`PinnedCache` asks of it."""

    def get(self, key: str) -> V | None: ...

    def put(self, key: str, value: V, size: int) -> None: ...

    def pop(self, key: str) -> tuple[V, int] | None: ...

    def keys(self) -> list[str]: ...

    def __contains__(self, key: str) -> bool: ...

    def __len__(self) -> int: ...


class PinnedCache(Generic[V]):
    """Pinned modules (never evicted) in front of ``lower``; see the module docstring."""

    def __init__(self, lower: Lower[V]) -> None:
        self.lower = lower
        self.wanted: frozenset[str] = frozenset()  # the pinned set the broker announced
        self.pinned: dict[str, tuple[V, int]] = {}  # loaded pinned modules and their sizes
        self.failed: dict[str, float] = {}  # pinned modules that failed to load -> when to try again
        self.hits = 0
        self.misses = 0
        self.pinned_hits = 0  # hits served by the pinned map (a subset of ``hits``)
        self.generation = 0

    def __len__(self) -> int:
        return len(self.pinned) + len(self.lower)

    def __contains__(self, key: str) -> bool:
        return key in self.pinned or key in self.lower

    def get(self, key: str) -> V | None:
        """The module, from the pinned map or the LRU, counting a hit or a miss."""
        item = self.pinned.get(key)
        if item is not None:
            self.hits += 1
            self.pinned_hits += 1
            return item[0]
        value = self.lower.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: V, size: int) -> None:
        """Keep a loaded module: in the pinned map when it is pinned, else in the LRU."""
        if key in self.wanted:
            self.pinned[key] = (value, size)
            self.failed.pop(key, None)
        else:
            self.lower.put(key, value, size)
        self.generation += 1

    def want(self, codes: Iterable[str]) -> None:
        """Adopt the broker's pinned set: unpinned modules fall back into the LRU, pinned ones leave it."""
        self.wanted = frozenset(codes)
        self.failed.clear()
        for key in [key for key in self.pinned if key not in self.wanted]:
            value, size = self.pinned.pop(key)
            self.lower.put(key, value, size)
        for key in self.wanted.difference(self.pinned):
            item = self.lower.pop(key)
            if item is not None:
                self.pinned[key] = item
        self.generation += 1

    def pending(self, now: float) -> str | None:
        """A pinned module to load now (fetch and compile), or None: all loaded, or failed a while ago."""
        if len(self.pinned) == len(self.wanted):  # all loaded (the pinned map holds wanted keys only)
            return None
        return next((key for key in sorted(self.wanted) if key not in self.pinned
                     and self.failed.get(key, now) <= now), None)

    def failed_to_load(self, key: str, now: float) -> None:
        """Loading ``key`` failed: tried again ``RETRY_AFTER`` seconds from ``now``, or when the set changes.

        A call of it meanwhile loads it as a cache miss would (and keeps it pinned).
        """
        self.failed[key] = now + RETRY_AFTER

    def keys(self) -> list[str]:
        """Cached code ids: the LRU's, least recently used first, then the pinned ones."""
        return [*self.lower.keys(), *self.pinned]

    def loaded(self) -> list[str]:
        """The pinned modules loaded here."""
        return list(self.pinned)
