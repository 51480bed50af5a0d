"""The contract registry in the state itself (broker.contracts), over both stores, without sockets.

Records and history sit in reserved namespaces: they commit with a call's
writes in one transaction or not at all, and they are part of the state root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmpool.broker import contracts
from wasmpool.broker.blocks.state_root import compute_root
from wasmpool.broker.state import MemoryStore, SQLiteStore, StaleRead, StateStore
from wasmpool.wire import errors

CODE, NEWER = "11" * 32, "22" * 32
ALICE, BOB = b"alice", b"bob"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made: StateStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "state.db")
    yield made
    made.close()


def commit(store: StateStore, pending: contracts.Pending, writes: dict[bytes, bytes | None]) -> int:
    space = pending.contract.namespace
    return store.commit_many(pending.reads(), {(space, k): v for k, v in writes.items()} | pending.writes())


def test_an_instantiation_commits_the_record_history_and_writes_together(store: StateStore) -> None:
    pending = contracts.instantiation(store, CODE, ALICE, b"s", BOB)
    root_before = compute_root(store.items())
    sequence = commit(store, pending, {b"k": b"v"})
    address = contracts.derive_address(ALICE, CODE, b"s")
    contract = contracts.lookup(store, address)
    assert contract is not None and (contract.code_id, contract.admin, contract.creator) == (CODE, BOB, ALICE)
    assert store.get(address.hex(), b"k").value == b"v"
    assert contracts.history(store, contract) == [
        contracts.HistoryEntry(contracts.Change.INSTANTIATE, CODE, ALICE, sequence)]
    spaces = {space for space, _, _ in store.items()}
    assert spaces == {address.hex(), contracts.REGISTRY, contracts.HISTORY}  # what the state root covers
    assert compute_root(store.items()) != root_before


def test_two_racing_instantiations_of_one_address_commit_once(store: StateStore) -> None:
    first = contracts.instantiation(store, CODE, ALICE, b"s", None)
    second = contracts.instantiation(store, CODE, ALICE, b"s", None)
    commit(store, first, {b"k": b"1"})
    with pytest.raises(StaleRead):
        commit(store, second, {b"k": b"2"})
    assert store.get(first.contract.namespace, b"k").value == b"1"
    with pytest.raises(errors.ContractExists):
        contracts.instantiation(store, CODE, ALICE, b"s", None)


def test_a_migration_needs_the_admin_and_appends_history(store: StateStore) -> None:
    commit(store, contracts.instantiation(store, CODE, ALICE, b"s", BOB), {})
    address = contracts.derive_address(ALICE, CODE, b"s").hex()
    with pytest.raises(errors.NotAdmin):
        contracts.migration(store, address, NEWER, ALICE)
    commit(store, contracts.migration(store, address, NEWER, BOB), {b"m": b"1"})
    info = contracts.info(store, address)
    assert info["code_id"] == NEWER
    assert [(h["kind"], h["code_id"], h["by"]) for h in info["history"]] == [
        ("instantiate", CODE, ALICE), ("migrate", NEWER, BOB)]
    with pytest.raises(errors.UnknownContract):
        contracts.info(store, "00" * 20)
