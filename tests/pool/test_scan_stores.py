"""Ordered range reads below the pool: the stores' index, the broker's pages and range checks, and
Block-STM's multi-version ranges -- with real SQLite files, no sockets."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmpool.broker.blocks.mvmemory import MVMemory, ReadKind, Version
from wasmpool.broker.blocks.ranges import RangeRead, merged_keys
from wasmpool.broker.scans import MAX_PAGE_BYTES, check_ranges, serve_page
from wasmpool.broker.state import MemoryStore, SQLiteStore, StaleRead, StateStore
from wasmpool.wire.protocol import MAX_SCAN_PAGE

C = "c" * 64
OTHER = "d" * 64


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made: StateStore = SQLiteStore(tmp_path / "state.db") if request.param == "sqlite" else MemoryStore()
    try:
        yield made
    finally:
        made.close()


def model_scan(state: dict[bytes, bytes], start: bytes, end: bytes, descending: bool) -> list[bytes]:
    keys = sorted(k for k in state if start <= k and (not end or k < end))
    return keys[::-1] if descending else keys


def test_scan_reads_live_keys_in_bytewise_order_both_ways(store: StateStore) -> None:
    rng = random.Random(7)
    state: dict[bytes, bytes] = {}
    for _ in range(40):  # commits of writes and deletes, tombstones included
        writes: dict[bytes, bytes | None] = {}
        for _ in range(rng.randint(1, 6)):
            key = bytes(rng.choice([0, 1, 0x61, 0x7F, 0x80, 0xFF]) for _ in range(rng.randint(0, 3)))
            writes[key] = None if rng.random() < 0.3 else b"v%d" % rng.randint(0, 9)
        store.commit(C, {}, writes)
        for key, value in writes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
    store.commit(OTHER, {}, {b"a": b"another contract"})
    bounds = [b"", b"\x00", b"\x01", b"a", b"\x80", b"\xff", b"\xff\xff\xff\xff"]
    for start in bounds:
        for end in bounds:
            for descending in (False, True):
                for limit in (1, 3, 1000):
                    found = store.scan(C, start, end, descending, limit)
                    assert [e.key for e in found] == model_scan(state, start, end, descending)[:limit]
                    assert all(e.value == state[e.key] and e.version > 0 for e in found)


def test_the_two_stores_agree(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path / "a.db"), MemoryStore()]
    rng = random.Random(3)
    for _ in range(30):
        writes: dict[bytes, bytes | None] = {b"k%02d" % rng.randint(0, 40): rng.choice([None, b"x", b""])
                                             for _ in range(4)}
        for made in stores:
            made.commit(C, {}, writes)
    for start, end in [(b"", b""), (b"k1", b"k3"), (b"k25", b""), (b"", b"k05")]:
        for descending in (False, True):
            sqlite, memory = (made.scan(C, start, end, descending, 100) for made in stores)
            assert sqlite == memory
    stores[0].close()


def test_pages_are_bounded_by_entries_and_bytes_and_say_what_they_cover(store: StateStore) -> None:
    store.commit(C, {}, {b"k%04d" % i: b"v" for i in range(MAX_SCAN_PAGE + 10)})
    page = serve_page(store, C, b"", b"", 0, MAX_SCAN_PAGE)
    assert len(page.entries) == MAX_SCAN_PAGE and page.more
    assert page.covered.start == b"" and page.covered.end == b"k%04d\x00" % (MAX_SCAN_PAGE - 1)
    rest = serve_page(store, C, page.covered.end, b"", 0, MAX_SCAN_PAGE)
    assert len(rest.entries) == 10 and not rest.more and rest.covered.end == b""
    down = serve_page(store, C, b"k0100", b"k0200", 1, 10)
    assert [e.key for e in down.entries] == [b"k%04d" % i for i in range(199, 189, -1)]
    assert (down.covered.start, down.covered.end) == (b"k0190", b"k0200")
    big = 100 * 1024
    store.commit(OTHER, {}, {b"b%d" % i: b"x" * big for i in range(5)})
    page = serve_page(store, OTHER, b"", b"", 0, 50)
    assert len(page.entries) == MAX_PAGE_BYTES // (big + 2) and page.more  # bytes cut it, not the limit
    huge = serve_page(store, OTHER, b"b4", b"", 0, 50)
    assert len(huge.entries) == 1 and not huge.more


def test_a_range_check_finds_inserts_deletes_and_changes_only_inside(store: StateStore) -> None:
    store.commit(C, {}, {b"a": b"1", b"c": b"3", b"e": b"5", b"x": b"outside"})
    page = serve_page(store, C, b"b", b"f", 0, 10)
    check_ranges(store, C, [page.covered])  # nothing changed
    store.commit(C, {}, {b"x": b"changed outside", b"f": b"at the exclusive end", b"a": None})
    check_ranges(store, C, [page.covered])
    for change in ({b"d": b"inserted"}, {b"c": None}, {b"e": b"changed"}, {b"b": b"at the start"}):
        fresh = serve_page(store, C, b"b", b"f", 0, 10)
        store.commit(C, {}, change)
        with pytest.raises(StaleRead):
            check_ranges(store, C, [fresh.covered])
    first = serve_page(store, C, b"", b"", 0, 1)  # covers [b"", just past its one key)
    store.commit(C, {}, {b"zz": b"past the page"})
    check_ranges(store, C, [first.covered])


# --- Block-STM ranges -------------------------------------------------------------------------


BASE = {(C, b"k1"): b"1", (C, b"k3"): b"3", (OTHER, b"k2"): b"other"}


def memory(size: int = 4) -> MVMemory:
    def storage(contract: str, key: bytes) -> bytes | None:
        return BASE.get((contract, key))

    def scanner(contract: str, start: bytes, end: bytes, descending: bool,
                limit: int) -> list[tuple[bytes, bytes]]:
        keys = sorted(k for c, k in BASE if c == contract and start <= k and (not end or k < end))
        return [(k, BASE[contract, k]) for k in (keys[::-1] if descending else keys)[:limit]]

    return MVMemory(size, storage, scanner)


def test_a_page_merges_base_and_lower_writes_for_the_reader() -> None:
    mv = memory()
    mv.record(Version(0, 0), {}, {(C, b"k2"): b"two", (C, b"k3"): None})
    mv.record(Version(2, 0), {}, {(C, b"k4"): b"four"})
    entries, more, span, _ = mv.page(C, b"k", b"", False, 10, 1)
    assert [(k, v) for k, v, _ in entries] == [(b"k1", b"1"), (b"k2", b"two")] and not more
    assert [version for *_, version in entries] == [None, Version(0, 0)] and span == (b"k", b"")
    entries, more, span, _ = mv.page(C, b"k", b"", True, 1, 3)
    assert [k for k, *_ in entries] == [b"k4"] and more and span == (b"k4", b"")


def test_range_validation_catches_a_phantom_from_a_lower_transaction_only() -> None:
    mv = memory()
    seen = mv.range_entries(C, b"k", b"k9", 2)
    assert seen is not None
    mv.record(Version(2, 0), {}, {}, (RangeRead(C, b"k", b"k9", seen),))
    assert mv.validate_read_set(2)
    mv.record(Version(3, 0), {}, {(C, b"k5"): b"higher"})  # a higher writer: not in tx 2's view
    assert mv.validate_read_set(2)
    mv.record(Version(1, 0), {}, {(C, b"k9"): b"past the end", (OTHER, b"k5"): b"other contract"})
    assert mv.validate_read_set(2)
    mv.record(Version(1, 1), {}, {(C, b"k5"): b"phantom"})  # a lower insert into the range
    assert not mv.validate_read_set(2)
    mv.convert_writes_to_estimates(1)
    assert mv.range_entries(C, b"k", b"k9", 2) is None  # an ESTIMATE in the range
    assert mv.page(C, b"k", b"k9", False, 10, 2)[3] == 1  # a page waits for transaction 1
    assert mv.read((C, b"k1"), 2).kind is ReadKind.BASE


def test_merged_keys_walks_base_and_written_keys_once_in_order() -> None:
    def scan(contract: str, start: bytes, end: bytes, descending: bool,
             limit: int) -> list[tuple[bytes, bytes]]:
        keys = sorted(k for k in (b"a", b"c", b"e") if start <= k and (not end or k < end))
        return [(k, b"") for k in (keys[::-1] if descending else keys)[:limit]]

    written = [b"b", b"c", b"f"]
    assert list(merged_keys(scan, written, C, b"", b"", False)) == [b"a", b"b", b"c", b"e", b"f"]
    assert list(merged_keys(scan, written, C, b"b", b"f", True)) == [b"e", b"c", b"b"]
