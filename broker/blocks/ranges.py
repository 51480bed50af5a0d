"""Key ranges in Block-STM: the keys a range holds for a transaction, and what a range read records.

A transaction that scans ``[start, end)`` of a contract sees committed
storage (the block's base) overlaid with the writes of lower transactions.
Which keys can be in that view is the union of two ordered sources: the
base's live keys in the range (read from the store's index in batches) and
the keys some transaction of the block has written there (the multi-version
memory keeps them sorted per contract). :func:`merged_keys` walks that
union in order; the memory then resolves each key for the reading
transaction exactly as a point read.

A :class:`RangeRead` is what validation checks, as Aptos's Block-STM does
for its range reads: the part of the range a read covered and the
(key, version) of every live entry it held. The read is still valid when
resolving the same range again gives the same entries with the same
versions -- so a lower transaction that inserts, deletes or rewrites a key
in the range invalidates it, a phantom included.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

BaseScanner = Callable[[str, bytes, bytes, bool, int], list[tuple[bytes, bytes]]]
"""Committed storage before the block in key order: ``scan(contract, start, end, descending, limit)``,
live (key, value) pairs only."""

BATCH = 256
"""Base keys read from the store per batch while walking a range."""


class RangeRead(NamedTuple):
    """A range a transaction read: contract, covered [start, end) (empty end: unbounded), entries seen."""

    contract: str
    start: bytes
    end: bytes
    entries: tuple[tuple[bytes, object], ...]  # (key, ReadVersion) in ascending key order


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    return start <= key and (not end or key < end)


def written_in(keys: Sequence[bytes], start: bytes, end: bytes, descending: bool) -> list[bytes]:
    """The keys of a sorted list within ``[start, end)``, in the order asked."""
    lo = bisect_left(keys, start)
    hi = bisect_left(keys, end) if end else len(keys)
    found = list(keys[lo:hi])
    return found[::-1] if descending else found


def base_keys(scan: BaseScanner, contract: str, start: bytes, end: bytes,
              descending: bool) -> Iterator[bytes]:
    """The base's live keys in the range, in order, read in batches of BATCH."""
    while True:
        batch = scan(contract, start, end, descending, BATCH)
        yield from (key for key, _ in batch)
        if len(batch) < BATCH:
            return
        last = batch[-1][0]
        if descending:
            end = last
        else:
            start = last + b"\x00"


def merged_keys(scan: BaseScanner, written: Sequence[bytes], contract: str, start: bytes, end: bytes,
                descending: bool) -> Iterator[bytes]:
    """Every key that may be live in the range for some transaction: base keys and written keys, in order."""
    base = base_keys(scan, contract, start, end, descending)
    mine = iter(written_in(written, start, end, descending))
    a, b = next(base, None), next(mine, None)
    while a is not None or b is not None:
        if b is None or (a is not None and (a > b if descending else a < b)):
            assert a is not None
            yield a
            a = next(base, None)
        elif a is None or a != b:
            yield b
            b = next(mine, None)
        else:  # both: once
            yield a
            a, b = next(base, None), next(mine, None)


def covered(start: bytes, end: bytes, descending: bool, last: bytes | None,
            more: bool) -> tuple[bytes, bytes]:
    """The part of ``[start, end)`` a page vouches for: up to its last key when more follow, else all."""
    if more and last is not None:
        if descending:
            return last, end
        return start, last + b"\x00"
    return start, end
