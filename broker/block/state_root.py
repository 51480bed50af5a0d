"""The state root: one 32-byte digest of all committed contract state.

Definition (version 1)
----------------------
The committed state is a set of entries ``(contract, key, value)``: contract
is a code id (text), key and value are bytes; a deleted key is absent (the
store's tombstones are not entries), while the empty value is a value.
With ``H`` = SHA-256, ``u32`` a 4-byte big-endian length and ``||``
concatenation:

- ``path(contract, key) = H(0x00 || u32(len(c)) || c || key)`` where ``c``
  is the contract id in UTF-8: a 256-bit position, fixed for the key forever.
- ``leaf = H(0x01 || path || H(value))``
- ``branch(left, right) = H(0x02 || left || right)``
- the *node* of a set ``S`` of entries whose paths share their first ``d``
  bits: ``EMPTY`` (32 zero bytes) when ``S`` is empty; the entry's ``leaf``
  when ``S`` has one entry; else ``branch(node(S0, d+1), node(S1, d+1))``
  where ``S0``/``S1`` hold the entries whose path has bit ``d`` (most
  significant bit first) equal to 0/1.
- ``state_root = node(all entries, 0)``; the empty state's root is ``EMPTY``.

This is a compact binary Merkle trie over hashed keys (a sparse Merkle tree
whose single-entry subtrees are cut off at their leaf). It depends only on
the set of entries -- never on the order of writes, the blocks that made
them, or the stored versions -- so an operator recomputes it from a plain
dump of the state with :func:`compute_root` (or twenty lines in any
language: sort the entries by path and split on bits). The three domain
bytes keep paths, leaves and branches apart, and the length prefix keeps
``("ab", b"c")`` apart from ``("a", b"bc")``.

Why this construction
---------------------
- A *chain* ``H(previous root || sorted block write set)`` is the cheapest
  incremental digest, but it commits to the history rather than the state:
  two nodes holding identical state through different block histories
  disagree, and recomputing it needs every block since genesis.
- A *commutative* digest (sum or XOR of entry hashes) updates in O(1) per
  write but is not collision resistant (generalised-birthday attacks).
- Hashing each contract's sorted key/value pairs rereads whole contracts on
  every change.
- The trie costs about ``log2(entries)`` hashes per written key (≈ 20 at a
  million entries): :class:`StateTree` keeps the nodes in memory,
  immutable and shared, so :meth:`StateTree.updated` touches only the paths
  of the written keys and leaves the old tree intact (a dry run costs
  nothing to undo). As a Merkle tree it also supports inclusion and
  absence proofs later.

The trade-off is memory (two small node objects per entry) and a full pass
over the state to build the tree after a restart (:meth:`StateTree.from_items`).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

DIGEST_SIZE: Final = 32
PATH_BITS: Final = 8 * DIGEST_SIZE
EMPTY_ROOT: Final = bytes(DIGEST_SIZE)
CONTRACT_LENGTH_BYTES: Final = 4

Entry = tuple[str, bytes, bytes]
"""A state entry: (contract, key, value)."""

Location = tuple[str, bytes]
Value = bytes | None


class Domain(IntEnum):
    """The first byte hashed by each kind of node (domain separation)."""

    PATH = 0
    LEAF = 1
    BRANCH = 2


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def key_path(contract: str, key: bytes) -> bytes:
    """The 256-bit position of a key in the trie."""
    name = contract.encode("utf-8")
    return _h(bytes((Domain.PATH,)), len(name).to_bytes(CONTRACT_LENGTH_BYTES, "big"), name, key)


def leaf_hash(path: bytes, value: bytes) -> bytes:
    """The node of a single entry."""
    return _h(bytes((Domain.LEAF,)), path, _h(value))


def branch_hash(left: bytes, right: bytes) -> bytes:
    """The node of a set split on one bit."""
    return _h(bytes((Domain.BRANCH,)), left, right)


@dataclass(frozen=True, slots=True)
class _Leaf:
    position: int  # the path as an integer
    hash: bytes


@dataclass(frozen=True, slots=True)
class _Branch:
    left: _Node
    right: _Node
    hash: bytes


_Node = _Leaf | _Branch | None


def _hash_of(node: _Node) -> bytes:
    return EMPTY_ROOT if node is None else node.hash


def _bit(position: int, depth: int) -> int:
    return (position >> (PATH_BITS - 1 - depth)) & 1


def _split(leaves: list[_Leaf], depth: int) -> int:
    """Where bit ``depth`` turns from 0 to 1 in leaves sorted by position."""
    return bisect_left(leaves, 1, key=lambda leaf: _bit(leaf.position, depth))


def _join(left: _Node, right: _Node) -> _Node:
    """The node over two sibling subtrees; a lone leaf moves up (its subtree has one entry)."""
    if left is None and (right is None or isinstance(right, _Leaf)):
        return right
    if right is None and isinstance(left, _Leaf):
        return left
    return _Branch(left, right, branch_hash(_hash_of(left), _hash_of(right)))


def _build(leaves: list[_Leaf], depth: int) -> _Node:
    """The node of leaves sorted by position that share their first ``depth`` bits."""
    if len(leaves) <= 1:
        return leaves[0] if leaves else None
    middle = _split(leaves, depth)
    left, right = _build(leaves[:middle], depth + 1), _build(leaves[middle:], depth + 1)
    return _Branch(left, right, branch_hash(_hash_of(left), _hash_of(right)))


class _Change:
    """A write routed down the trie: position, and the new leaf (None deletes)."""

    __slots__ = ("leaf", "position")

    def __init__(self, position: int, leaf: _Leaf | None) -> None:
        self.position = position
        self.leaf = leaf


def _change_split(changes: list[_Change], depth: int) -> int:
    return bisect_left(changes, 1, key=lambda change: _bit(change.position, depth))


def _update(node: _Node, changes: list[_Change], depth: int) -> _Node:
    """``node`` (at ``depth``) with sorted ``changes`` applied; untouched subtrees are shared."""
    if not changes:
        return node
    if isinstance(node, _Branch):
        middle = _change_split(changes, depth)
        return _join(_update(node.left, changes[:middle], depth + 1),
                     _update(node.right, changes[middle:], depth + 1))
    merged: dict[int, _Leaf | None] = {} if node is None else {node.position: node}
    merged.update((change.position, change.leaf) for change in changes)
    return _build(sorted((leaf for leaf in merged.values() if leaf is not None),
                         key=lambda leaf: leaf.position), depth)


def _leaf(contract: str, key: bytes, value: bytes) -> _Leaf:
    path = key_path(contract, key)
    return _Leaf(int.from_bytes(path, "big"), leaf_hash(path, value))


def _changes(writes: Mapping[Location, Value]) -> list[_Change]:
    changes = []
    for (contract, key), value in writes.items():
        path = key_path(contract, key)
        leaf = None if value is None else _Leaf(int.from_bytes(path, "big"), leaf_hash(path, value))
        changes.append(_Change(int.from_bytes(path, "big"), leaf))
    changes.sort(key=lambda change: change.position)
    return changes


class StateTree:
    """The trie of a state, immutable: :meth:`updated` returns a new tree sharing untouched nodes."""

    __slots__ = ("_node",)

    def __init__(self, node: _Node = None) -> None:
        self._node = node

    @classmethod
    def from_items(cls, entries: Iterable[Entry]) -> StateTree:
        """The tree of a whole state (a full pass, e.g. after a restart); later duplicates win."""
        leaves = {leaf.position: leaf for leaf in (_leaf(c, k, v) for c, k, v in entries)}
        return cls(_build(sorted(leaves.values(), key=lambda leaf: leaf.position), 0))

    @property
    def root(self) -> bytes:
        """The state root (see the module docstring)."""
        return _hash_of(self._node)

    def updated(self, writes: Mapping[Location, Value]) -> StateTree:
        """The tree after a write set ((contract, key) -> value, None deletes); self is unchanged."""
        return StateTree(_update(self._node, _changes(writes), 0))

    def __len__(self) -> int:
        return _count(self._node)


def _count(node: _Node) -> int:
    if node is None:
        return 0
    if isinstance(node, _Leaf):
        return 1
    return _count(node.left) + _count(node.right)


def compute_root(entries: Iterable[Entry]) -> bytes:
    """The state root of a whole state, from scratch (what an operator recomputes from a dump)."""
    return StateTree.from_items(entries).root


def root_hex(root: bytes) -> str:
    """A root as the hex text nodes print and compare."""
    return root.hex()
