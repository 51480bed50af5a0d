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


_sha256 = hashlib.sha256
_PATH_TAG: Final = bytes((Domain.PATH,))
_LEAF_TAG: Final = bytes((Domain.LEAF,))
_BRANCH_TAG: Final = bytes((Domain.BRANCH,))


def key_path(contract: str, key: bytes) -> bytes:
    """The 256-bit position of a key in the trie."""
    name = contract.encode("utf-8")
    return _sha256(_PATH_TAG + len(name).to_bytes(CONTRACT_LENGTH_BYTES, "big") + name + key).digest()


def leaf_hash(path: bytes, value: bytes) -> bytes:
    """The node of a single entry."""
    return _sha256(_LEAF_TAG + path + _sha256(value).digest()).digest()


def branch_hash(left: bytes, right: bytes) -> bytes:
    """The node of a set split on one bit."""
    return _sha256(_BRANCH_TAG + left + right).digest()


# The trie's nodes are plain slotted objects, immutable by convention (never changed once made,
# so trees share them): they are made by the thousand per block, and a frozen dataclass costs
# several times more to construct.


class _Leaf:
    __slots__ = ("hash", "position")

    def __init__(self, position: int, hash: bytes) -> None:
        self.position = position  # the path as an integer
        self.hash = hash


class _Branch:
    __slots__ = ("hash", "left", "right")

    def __init__(self, left: _Node, right: _Node, hash: bytes) -> None:
        self.left = left
        self.right = right
        self.hash = hash


_Node = _Leaf | _Branch | None


def _hash_of(node: _Node) -> bytes:
    return EMPTY_ROOT if node is None else node.hash


def _split(positions: list[int], low: int, high: int, depth: int) -> int:
    """Where bit ``depth`` turns from 0 to 1 in ``positions[low:high]``: sorted, sharing ``depth`` bits."""
    shift = PATH_BITS - depth
    one = ((positions[low] >> shift) << shift) | (1 << (shift - 1))  # the shared prefix, then bit 1
    return bisect_left(positions, one, low, high)


def _join(left: _Node, right: _Node) -> _Node:
    """The node over two sibling subtrees; a lone leaf moves up (its subtree has one entry)."""
    if left is None and (right is None or type(right) is _Leaf):
        return right
    if right is None and type(left) is _Leaf:
        return left
    return _Branch(left, right, _sha256(_BRANCH_TAG + _hash_of(left) + _hash_of(right)).digest())


def _build(leaves: list[_Leaf], positions: list[int], low: int, high: int, depth: int) -> _Node:
    """The node of ``leaves[low:high]`` (sorted, ``positions`` alongside) sharing their ``depth`` bits."""
    if high - low <= 1:
        return leaves[low] if high > low else None
    middle = _split(positions, low, high, depth)
    left = _build(leaves, positions, low, middle, depth + 1)
    right = _build(leaves, positions, middle, high, depth + 1)
    return _Branch(left, right, _sha256(_BRANCH_TAG + _hash_of(left) + _hash_of(right)).digest())


def _built(leaves: list[_Leaf], depth: int) -> _Node:
    """The node of leaves sorted by position that share their first ``depth`` bits."""
    return _build(leaves, [leaf.position for leaf in leaves], 0, len(leaves), depth)


class _Changes:
    """Writes routed down the trie: sorted positions and, alongside, the new leaves (None deletes)."""

    __slots__ = ("leaves", "positions")

    def __init__(self, positions: list[int], leaves: list[_Leaf | None]) -> None:
        self.positions = positions
        self.leaves = leaves


def _update(node: _Node, changes: _Changes, low: int, high: int, depth: int) -> _Node:
    """``node`` (at ``depth``) with ``changes[low:high]`` (some) applied; untouched subtrees are shared."""
    if isinstance(node, _Branch):
        middle = _split(changes.positions, low, high, depth)
        left = node.left if middle == low else _update(node.left, changes, low, middle, depth + 1)
        right = node.right if middle == high else _update(node.right, changes, middle, high, depth + 1)
        return _join(left, right)
    if high - low == 1 and (node is None or node.position == changes.positions[low]):
        return changes.leaves[low]  # the common case: one key written (or deleted) where it was
    merged: dict[int, _Leaf | None] = {} if node is None else {node.position: node}
    merged.update(zip(changes.positions[low:high], changes.leaves[low:high], strict=True))
    return _built(sorted((leaf for leaf in merged.values() if leaf is not None),
                         key=lambda leaf: leaf.position), depth)


def _leaf(contract: str, key: bytes, value: bytes) -> _Leaf:
    path = key_path(contract, key)
    return _Leaf(int.from_bytes(path, "big"), leaf_hash(path, value))


def _changes(writes: Mapping[Location, Value]) -> _Changes:
    rows = []
    for (contract, key), value in writes.items():
        path = key_path(contract, key)
        rows.append((int.from_bytes(path, "big"), None if value is None else leaf_hash(path, value)))
    rows.sort(key=lambda row: row[0])
    return _Changes([position for position, _ in rows],
                    [None if digest is None else _Leaf(position, digest) for position, digest in rows])


class StateTree:
    """The trie of a state, immutable: :meth:`updated` returns a new tree sharing untouched nodes."""

    __slots__ = ("_node",)

    def __init__(self, node: _Node = None) -> None:
        self._node = node

    @classmethod
    def from_items(cls, entries: Iterable[Entry]) -> StateTree:
        """The tree of a whole state (a full pass, e.g. after a restart); later duplicates win."""
        leaves = {leaf.position: leaf for leaf in (_leaf(c, k, v) for c, k, v in entries)}
        return cls(_built(sorted(leaves.values(), key=lambda leaf: leaf.position), 0))

    @property
    def root(self) -> bytes:
        """The state root (see the module docstring)."""
        return _hash_of(self._node)

    def updated(self, writes: Mapping[Location, Value]) -> StateTree:
        """The tree after a write set ((contract, key) -> value, None deletes); self is unchanged."""
        changes = _changes(writes)
        if not changes.positions:
            return StateTree(self._node)
        return StateTree(_update(self._node, changes, 0, len(changes.positions), 0))

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
