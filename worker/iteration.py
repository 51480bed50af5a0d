"""Ordered iteration over a contract's state (``state_scan`` / ``state_next``): one consistent view.

An iterator walks the keys of ``[start, end)`` (empty ``end``: unbounded) in
bytewise order, ascending or descending. What it yields is committed state
merged with the call's own buffered writes: a key the call wrote yields its
written value, a key the call deleted is skipped, and a committed key the
call read before yields the value that read returned (a key reads the same
for the whole call). The call's writes are taken when the iterator is
opened: writes made while it runs are not seen by it (open a new one).

Committed entries come from the reader in pages (a ``scan`` CALLBACK in a
worker), never one round trip per key: the first page asks for
:data:`FIRST_PAGE` entries and each next one for twice as many, up to the
protocol's page limit -- few round trips for a long scan, and a short read
set for a call that stops after a few entries (the broker records the
range of every page it served as read: see ``wasmpool.broker.scans``); each
entry produced is noted as read (``seen``), and the broker records every
page's range for the phantom check at commit (``wasmpool.broker.scans``).

Iterators belong to one call and end with it; a call may open at most
:data:`MAX_ITERATORS`. In a call between contracts (``call_contract``) each
contract frame has its own iterators over its own namespace, merged with
the writes its transaction made there (``worker.calls``), and they end with
the frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from enum import IntEnum
from typing import Protocol

from wasmpool.wire.protocol import MAX_SCAN_PAGE

FIRST_PAGE = 16
"""Entries an iterator asks for in its first page; each next page asks for twice as many, up to
``protocol.MAX_SCAN_PAGE`` (the broker bounds pages by bytes too)."""
MAX_ITERATORS = 32
"""The most iterators one call may open."""


class IterationGas(IntEnum):
    """Prices of iteration (on top of the crossing's ``HOST_CALL_GAS`` and the BYTE price of copies).

    Set from ``bench/pool/scan_cost.py`` at the µs per gas of ordinary code;
    see docs/abi.md (Gas).
    """

    STATE_SCAN = 40_000  # opening an iterator: what a scan pays even when empty (one page's round trip)
    STATE_NEXT = 2_500  # each state_next, an entry or the end: the entry's share of its page's round trip
    SCANNED_BYTE = 1  # per byte of key and value an entry carries (read by the broker, sent, received)


class Order(IntEnum):
    """``state_scan``'s order argument."""

    ASCENDING = 0
    DESCENDING = 1


class RangeReader(Protocol):
    """Committed state read in pages: entries of ``[start, end)`` in ``order``, and whether more follow."""

    def scan(self, start: bytes, end: bytes, order: int, limit: int) -> tuple[list[list[bytes]], bool]: ...


def page_sizes(count: int) -> list[int]:
    """The entries each page asks for while an iterator reads ``count`` committed entries."""
    sizes, limit, left = [], FIRST_PAGE, count
    while True:
        sizes.append(limit)
        if left <= limit:  # this page holds the rest and says no more follow
            return sizes
        left -= limit
        limit = min(2 * limit, MAX_SCAN_PAGE)


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    return start <= key and (not end or key < end)


class ScanIterator:
    """One iterator: committed pages merged with the call's own writes, in the order asked."""

    def __init__(self, reader: RangeReader, start: bytes, end: bytes, order: Order,
                 writes: Mapping[bytes, bytes | None], seen: dict[bytes, bytes | None]) -> None:
        self.reader = reader
        self.start, self.end = start, end  # what remains to fetch of the committed range
        self.order = order
        self.descending = order is Order.DESCENDING
        own = sorted((k for k in writes if in_range(k, start, end)), reverse=self.descending)
        self.own: deque[tuple[bytes, bytes | None]] = deque((k, writes[k]) for k in own)
        self.seen = seen
        self.page: deque[tuple[bytes, bytes]] = deque()
        self.more = True  # committed entries may remain to fetch
        self.limit = FIRST_PAGE  # entries asked for by the next page
        self.done = False

    def next(self) -> tuple[bytes, bytes] | None:
        """The next entry of the merged view, or None at the end (and for ever after)."""
        while not self.done:
            committed = self._peek()
            own = self.own[0] if self.own else None
            if committed is None and own is None:
                self.done = True
                break
            if own is not None and (committed is None or self._first(own[0], committed[0])):
                self.own.popleft()
                if committed is not None and committed[0] == own[0]:
                    self.page.popleft()  # the call's own write hides the committed entry
                if own[1] is not None:
                    return own[0], own[1]
                continue  # deleted by the call
            assert committed is not None
            self.page.popleft()
            key = committed[0]
            value = self.seen.setdefault(key, committed[1])
            if value is not None:
                return key, value
        return None

    def _first(self, a: bytes, b: bytes) -> bool:
        """Whether ``a`` comes no later than ``b`` in the iterator's order."""
        return a >= b if self.descending else a <= b

    def _peek(self) -> tuple[bytes, bytes] | None:
        """The next committed entry, fetching the next page when the current one is used up."""
        if not self.page and self.more:
            entries, self.more = self.reader.scan(self.start, self.end, int(self.order), self.limit)
            self.limit = min(2 * self.limit, MAX_SCAN_PAGE)
            self.page.extend((k, v) for k, v in entries)
            if entries and self.more:
                last = entries[-1][0]
                if self.descending:
                    self.end = last
                else:
                    self.start = last + b"\x00"
            elif not entries:
                self.more = False
        return self.page[0] if self.page else None
