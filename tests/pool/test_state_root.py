"""The state root: its definition checked against an independent implementation, incremental updates."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpool.broker.blocks.state_root import EMPTY_ROOT, StateTree, compute_root, key_path, root_hex

State = dict[tuple[str, bytes], bytes]
Writes = dict[tuple[str, bytes], bytes | None]


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def naive_path(contract: str, key: bytes) -> bytes:
    name = contract.encode()
    return sha(b"\x00" + len(name).to_bytes(4, "big") + name + key)


def naive_root(state: State) -> bytes:
    """The documented definition, written out the slow obvious way (bits as text)."""
    items = []
    for (contract, key), value in state.items():
        path = naive_path(contract, key)
        bits = "".join(f"{byte:08b}" for byte in path)
        items.append((bits, sha(b"\x01" + path + sha(value))))

    def node(subset: list[tuple[str, bytes]], depth: int) -> bytes:
        if not subset:
            return bytes(32)
        if len(subset) == 1:
            return subset[0][1]
        zeros = [item for item in subset if item[0][depth] == "0"]
        ones = [item for item in subset if item[0][depth] == "1"]
        return sha(b"\x02" + node(zeros, depth + 1) + node(ones, depth + 1))

    return node(items, 0)


def entries(state: State) -> list[tuple[str, bytes, bytes]]:
    return [(contract, key, value) for (contract, key), value in state.items()]


contracts = st.sampled_from(["token", "counter", "a", "ab", "é"])
keys = st.binary(max_size=6)
values = st.binary(max_size=10)
states = st.dictionaries(st.tuples(contracts, keys), values, max_size=40)
write_sets = st.dictionaries(st.tuples(contracts, keys), st.none() | values, max_size=15)


def test_the_empty_state_has_the_zero_root() -> None:
    assert compute_root([]) == EMPTY_ROOT == bytes(32)
    assert StateTree().root == EMPTY_ROOT


def test_one_entry_is_its_leaf() -> None:
    path = naive_path("token", b"bal:alice")
    assert key_path("token", b"bal:alice") == path
    assert compute_root([("token", b"bal:alice", b"\x05")]) == sha(b"\x01" + path + sha(b"\x05"))


def test_a_known_state_has_a_fixed_root() -> None:
    """Pins the definition: changing it breaks every node's comparison with older ones."""
    state = {("token", b"bal:alice"): b"\x64" + bytes(7), ("token", b"supply"): b"\x64" + bytes(7),
             ("counter", b"count"): b"\x01" + bytes(7)}
    assert compute_root(entries(state)) == naive_root(state)
    assert root_hex(compute_root(entries(state))) == naive_root(state).hex()


@given(states)
@settings(max_examples=150, deadline=None)
def test_root_matches_the_independent_definition(state: State) -> None:
    assert compute_root(entries(state)) == naive_root(state)


@given(states, st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_root_does_not_depend_on_order(state: State, rnd: random.Random) -> None:
    shuffled = entries(state)
    rnd.shuffle(shuffled)
    assert compute_root(shuffled) == compute_root(entries(state))


@given(states, st.lists(write_sets, max_size=6))
@settings(max_examples=150, deadline=None)
def test_incremental_updates_equal_recomputation(state: State, blocks: list[Writes]) -> None:
    tree = StateTree.from_items(entries(state))
    current = dict(state)
    for writes in blocks:
        tree = tree.updated(writes)
        for location, value in writes.items():
            if value is None:
                current.pop(location, None)
            else:
                current[location] = value
        assert tree.root == naive_root(current)
        assert len(tree) == len(current)


def test_update_leaves_the_old_tree_alone() -> None:
    before = StateTree.from_items([("token", b"a", b"1"), ("token", b"b", b"2")])
    root = before.root
    after = before.updated({("token", b"a"): b"9", ("token", b"c"): b"3"})
    assert before.root == root
    assert after.root != root
    assert after.root == compute_root([("token", b"a", b"9"), ("token", b"b", b"2"), ("token", b"c", b"3")])


def test_deleting_what_was_added_restores_the_root() -> None:
    base = StateTree.from_items([("token", bytes([i]), bytes([i])) for i in range(20)])
    added = base.updated({("token", b"new"): b"v", ("other", b"x"): b""})
    assert added.root != base.root
    assert added.updated({("token", b"new"): None, ("other", b"x"): None}).root == base.root


def test_deleting_an_absent_key_changes_nothing() -> None:
    base = StateTree.from_items([("token", b"a", b"1")])
    assert base.updated({("token", b"zzz"): None}).root == base.root


@pytest.mark.parametrize(("one", "other"), [
    pytest.param([("token", b"k", b"")], [], id="empty-value-is-not-absence"),
    pytest.param([("ab", b"c", b"v")], [("a", b"bc", b"v")], id="contract-key-boundary"),
    pytest.param([("token", b"k", b"v")], [("counter", b"k", b"v")], id="contracts-are-separate"),
    pytest.param([("token", b"k", b"v1")], [("token", b"k", b"v2")], id="values-count"),
    pytest.param([("token", b"a", b"1"), ("token", b"b", b"2")],
                 [("token", b"a", b"2"), ("token", b"b", b"1")], id="values-stay-with-their-keys"),
])
def test_different_states_have_different_roots(one: list[tuple[str, bytes, bytes]],
                                                 other: list[tuple[str, bytes, bytes]]) -> None:
    assert compute_root(one) != compute_root(other)


def test_later_duplicates_win_when_building() -> None:
    assert compute_root([("t", b"k", b"1"), ("t", b"k", b"2")]) == compute_root([("t", b"k", b"2")])
