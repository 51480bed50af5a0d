"""Ordered range reads for running calls (``state_scan``): pages served, and the ranges checked at commit.

A worker reads a key range of its contract in pages: a ``scan`` CALLBACK
asks for up to ``limit`` entries of ``[start, end)`` in one order, and the
broker answers from its store's index with the entries and whether more of
the range follow. Each page bounds its entries (``protocol.MAX_SCAN_PAGE``)
and its bytes (:data:`MAX_PAGE_BYTES`, at least one entry).

Phantoms. Key versions alone cannot tell that a key was *inserted* into a
range a call read. So each page served is recorded as a
:class:`ScanRange`: the part of the range the page covers (from its start
to just past its last key, or the whole rest of the range when no more
follow) and the (key, version) of every entry in it. At commit the broker
reads each recorded range again; any difference -- a key inserted, deleted
or rewritten in it since -- makes the read stale, and the call is
re-executed, exactly as for a stale key read. The broker is the store's
only writer and commits one call at a time, so the check and the commit
see the same state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from wasmpool.broker.state import Entry, StaleRead, StateStore
from wasmpool.wire.protocol import MAX_SCAN_PAGE

MAX_PAGE_BYTES = 256 * 1024
"""The most key and value bytes one page carries (a page always carries at least one entry)."""
MAX_RANGES = 4096
"""The most pages one call attempt may read (the ranges its commit checks); later pages are refused."""

ASCENDING, DESCENDING = 0, 1


class ScanRange(NamedTuple):
    """A part of a key range a call read, and the (key, version) of each live entry it held then."""

    start: bytes
    end: bytes  # exclusive; empty: unbounded
    entries: tuple[tuple[bytes, int], ...]


class Page(NamedTuple):
    """One answer to a ``scan``: its entries in the order asked, whether more follow, and what it covers."""

    entries: list[Entry]
    more: bool
    covered: ScanRange


def serve_page(store: StateStore, code_id: str, start: bytes, end: bytes, order: int, limit: int) -> Page:
    """Up to ``limit`` entries of ``[start, end)`` (bytes bounded too), and the range they cover."""
    found = store.scan(code_id, start, end, order == DESCENDING, min(limit, MAX_SCAN_PAGE) + 1)
    more = len(found) > limit
    entries = found[:limit]
    size = 0
    for count, entry in enumerate(entries):
        size += len(entry.key) + len(entry.value)
        if size > MAX_PAGE_BYTES and count:
            entries, more = entries[:count], True
            break
    return Page(entries, more, covered(start, end, order, entries, more))


def covered(start: bytes, end: bytes, order: int, entries: list[Entry], more: bool) -> ScanRange:
    """The part of ``[start, end)`` a page vouches for: up to its last key when more follow, else all."""
    if more:
        last = entries[-1].key
        if order == DESCENDING:
            start = last
        else:
            end = last + b"\x00"  # the smallest key after ``last``
    ordered = sorted((e.key, e.version) for e in entries)
    return ScanRange(start, end, tuple(ordered))


def check_ranges(store: StateStore, code_id: str, ranges: Iterable[ScanRange]) -> None:
    """Raise StaleRead when any range's live entries (keys or versions) differ from what was read."""
    for scanned in ranges:
        now = store.scan(code_id, scanned.start, scanned.end, False, len(scanned.entries) + 1)
        if tuple((e.key, e.version) for e in now) != scanned.entries:
            changed = {k for k, _ in scanned.entries} ^ {e.key for e in now}
            raise StaleRead(code_id, sorted(changed) or [scanned.start])
