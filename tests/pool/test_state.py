"""The StateStore contract, run over every implementation (in memory and SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmpool.broker.state import (
    ABSENT,
    MemoryStore,
    SQLiteStore,
    StaleRead,
    StateStore,
    Versioned,
    open_store,
)

A = "a" * 64
B = "b" * 64


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made: StateStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "state.db")
    yield made
    made.close()


def test_an_unknown_key_is_absent_at_version_zero(store: StateStore) -> None:
    assert store.get(A, b"k") == ABSENT == Versioned(None, 0)
    assert store.sequence() == 0


def test_a_commit_writes_every_key_at_one_new_version(store: StateStore) -> None:
    version = store.commit(A, {}, {b"x": b"1", b"y": b"2"})
    assert version == 1 == store.sequence()
    assert store.get(A, b"x") == Versioned(b"1", 1)
    assert store.get(A, b"y") == Versioned(b"2", 1)


def test_versions_grow_with_each_commit(store: StateStore) -> None:
    store.commit(A, {}, {b"x": b"1"})
    store.commit(A, {b"x": 1}, {b"x": b"2"})
    assert store.get(A, b"x") == Versioned(b"2", 2)


def test_contracts_have_separate_namespaces(store: StateStore) -> None:
    store.commit(A, {}, {b"k": b"from a"})
    assert store.get(B, b"k") == ABSENT
    store.commit(B, {}, {b"k": b"from b"})
    assert store.get(A, b"k").value == b"from a"


def test_delete_leaves_a_versioned_tombstone(store: StateStore) -> None:
    store.commit(A, {}, {b"k": b"v"})
    store.commit(A, {b"k": 1}, {b"k": None})
    assert store.get(A, b"k") == Versioned(None, 2)


def test_an_empty_value_is_not_absent(store: StateStore) -> None:
    store.commit(A, {}, {b"k": b""})
    assert store.get(A, b"k") == Versioned(b"", 1)


STALE_READS = {
    "changed": ({b"x": b"1"}, {b"x": 1}, {b"x": b"2"}),
    "created-since-read-absent": ({}, {b"x": 0}, {b"x": b"2"}),
    "deleted-and-recreated": ({b"x": b"1"}, {b"x": 1}, {b"x": None}),
}


@pytest.mark.parametrize(("first", "reads", "second"), STALE_READS.values(), ids=STALE_READS.keys())
def test_a_stale_read_set_commits_nothing(store: StateStore, first: dict[bytes, bytes],
                                          reads: dict[bytes, int], second: dict[bytes, bytes | None]) -> None:
    if first:
        store.commit(A, {}, first)
    store.commit(A, {}, second)  # an intervening writer
    before = (store.get(A, b"x"), store.get(A, b"y"), store.sequence())
    with pytest.raises(StaleRead) as caught:
        store.commit(A, reads, {b"x": b"mine", b"y": b"mine"})
    assert caught.value.keys == [b"x"]
    assert (store.get(A, b"x"), store.get(A, b"y"), store.sequence()) == before


def test_a_fresh_read_set_commits(store: StateStore) -> None:
    store.commit(A, {}, {b"x": b"1"})
    store.commit(A, {b"x": 1, b"never": 0}, {b"y": b"2"})
    assert store.get(A, b"y") == Versioned(b"2", 2)


def test_reads_in_another_namespace_are_not_confused(store: StateStore) -> None:
    store.commit(B, {}, {b"x": b"1"})
    store.commit(A, {b"x": 0}, {b"x": b"a"})
    assert store.get(A, b"x").value == b"a"


def test_code_is_stored_by_id_and_put_is_idempotent(store: StateStore) -> None:
    assert store.get_code(A) is None
    store.put_code(A, b"\x00asm")
    store.put_code(A, b"\x00asm")
    assert store.get_code(A) == b"\x00asm"


def test_sqlite_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.db"
    first = SQLiteStore(path)
    first.commit(A, {}, {b"k": b"v"})
    first.put_code(A, b"code")
    first.close()
    second = SQLiteStore(path)
    try:
        assert second.get(A, b"k") == Versioned(b"v", 1)
        assert second.get_code(A) == b"code"
        assert second.sequence() == 1
    finally:
        second.close()


def test_sqlite_uses_the_wal_journal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    try:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_open_store_by_url(tmp_path: Path) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    sqlite = open_store(f"sqlite:{tmp_path / 'x.db'}")
    try:
        assert isinstance(sqlite, SQLiteStore)
        assert (tmp_path / "x.db").exists()
    finally:
        sqlite.close()
    with pytest.raises(ValueError, match="unknown state store"):
        open_store("redis://localhost")
