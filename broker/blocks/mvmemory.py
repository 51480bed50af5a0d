"""Block-STM's multi-version memory: every transaction's writes, side by side.

Theory of operation
-------------------
A block is an ordered list of transactions (calls) ``0 .. n-1``; its result
must be that of running them one after another. Block-STM (Gelashvili et
al., "Block-STM: Scaling Blockchain Execution by Turning Ordering Curse to a
Performance Blessing", 2022) runs them optimistically in parallel; this
module is its *multi-version data structure*.

A *location* is ``(contract, key)``: every contract has its own key space.
For each location the memory keeps, per transaction index, the value the
latest recorded *incarnation* (execution attempt) of that transaction wrote
there, tagged with its :class:`Version` ``(tx_index, incarnation)``; a
deletion is recorded as the value ``None``.

- **Reads.** Transaction ``j`` reading a location sees the entry of the
  highest index ``i < j`` that wrote it -- exactly what serial execution
  would show ``j`` if those writes are final -- or, when no lower
  transaction wrote it, the block's *base*: committed storage, read once
  per location and cached so that every read of the block sees one
  snapshot.
- **ESTIMATE markers.** When a transaction's incarnation is aborted, its
  writes are not deleted but replaced by ESTIMATE markers: a likely
  prediction that the next incarnation writes the same locations. A reader
  hitting one learns which transaction it must wait for
  (:attr:`ReadKind.ESTIMATE`), instead of reading a value that is about to
  change.
- **Recording.** When an incarnation finishes, :meth:`MVMemory.record`
  stores its read set (location -> version read) and write set, removes the
  entries of locations the previous incarnation wrote and this one does not,
  and reports whether it wrote a location the previous one had not (then
  every higher transaction must be validated again).
- **Validation.** :meth:`MVMemory.validate_read_set` reads every location
  of a transaction's last read set again; the read set is still valid when
  each read resolves to the very same version (or to the base again). Any
  difference, or an ESTIMATE, means the incarnation may have computed with
  stale data and must be aborted.
- **Ranges.** A range read (``state_scan``) is served by :meth:`MVMemory.page`:
  the keys of the base and of the block's writes in the range
  (:mod:`~wasmpool.broker.blocks.ranges`), each resolved like a read. It is
  recorded as a :class:`~wasmpool.broker.blocks.ranges.RangeRead` with the
  incarnation, and validation resolves the range again: the same live keys
  with the same versions, or the incarnation is aborted (a phantom: a lower
  transaction inserted a key in the range).
- **Result.** Once every transaction is validated, :meth:`MVMemory.snapshot`
  is the block's write set: per written location, the value of its highest
  writer.

The structure is a plain single-threaded object: in the pool the broker
alone owns it and serves worker reads from it; there are no locks.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, NamedTuple

from wasmpool.broker.blocks.ranges import BaseScanner, RangeRead, covered, merged_keys

Location = tuple[str, bytes]
"""A state location: (namespace, key); the namespace is a contract's address in hex, a legacy call's code
id, or the contract registry's (a call reads and writes those of the contracts it calls too)."""

Value = bytes | None
"""A state value; ``None`` is absence (a deleted or never written key)."""

Storage = Callable[[str, bytes], Value]
"""Committed state before the block: ``storage(contract, key)``."""

NO_TX: Final = -1


class Version(NamedTuple):
    """Which execution wrote a value: transaction index and its incarnation number."""

    tx_index: int
    incarnation: int


ReadVersion = Version | None
"""The version a read observed; ``None`` is the block's base (committed storage)."""


class ReadKind(IntEnum):
    """What a multi-version read resolved to."""

    VALUE = 0  # an entry written by a lower transaction
    BASE = 1  # no lower transaction wrote the location: committed storage
    ESTIMATE = 2  # a lower transaction's aborted write: wait for it


class ReadResult(NamedTuple):
    """A read's outcome: kind, value, version read, and the blocking transaction for ESTIMATE."""

    kind: ReadKind
    value: Value = None
    version: ReadVersion = None
    blocking: int = NO_TX


class _Estimate:
    """The ESTIMATE marker type (one instance)."""

    def __repr__(self) -> str:
        return "ESTIMATE"


ESTIMATE: Final = _Estimate()


class _Written(NamedTuple):
    """One recorded write: the incarnation that wrote it and the value."""

    incarnation: int
    value: Value


_Entry = _Written | _Estimate


@dataclass(slots=True)
class _Cell:
    """The versions of one location: entries by transaction index, and those indices sorted."""

    entries: dict[int, _Entry] = field(default_factory=dict)
    writers: list[int] = field(default_factory=list)

    def put(self, tx_index: int, entry: _Entry) -> None:
        if tx_index not in self.entries:
            insort(self.writers, tx_index)
        self.entries[tx_index] = entry

    def remove(self, tx_index: int) -> None:
        if self.entries.pop(tx_index, None) is not None:
            del self.writers[bisect_left(self.writers, tx_index)]

    def below(self, tx_index: int) -> int:
        """The highest writer index lower than ``tx_index``, or NO_TX."""
        position = bisect_left(self.writers, tx_index)
        return self.writers[position - 1] if position else NO_TX


ReadSet = Mapping[Location, ReadVersion]
WriteSet = Mapping[Location, Value]


class MVMemory:
    """The multi-version memory of one block of ``block_size`` transactions over ``storage``."""

    def __init__(self, block_size: int, storage: Storage, scanner: BaseScanner | None = None) -> None:
        self.block_size = block_size
        self._storage = storage
        self._scanner = scanner
        self._cells: dict[Location, _Cell] = {}
        self._keys: dict[str, list[bytes]] = {}  # per contract, the keys of its cells, sorted
        self._range_sets: list[tuple[RangeRead, ...]] = [()] * block_size
        self._base: dict[Location, Value] = {}
        self._written: list[frozenset[Location]] = [frozenset()] * block_size
        self._read_sets: list[dict[Location, ReadVersion]] = [{} for _ in range(block_size)]

    # --- reads -------------------------------------------------------------------

    def read(self, location: Location, tx_index: int) -> ReadResult:
        """What transaction ``tx_index`` reads at ``location`` (see the module docstring)."""
        cell = self._cells.get(location)
        writer = NO_TX if cell is None else cell.below(tx_index)
        if writer == NO_TX or cell is None:
            return ReadResult(ReadKind.BASE, self.base(location))
        entry = cell.entries[writer]
        if isinstance(entry, _Estimate):
            return ReadResult(ReadKind.ESTIMATE, blocking=writer)
        return ReadResult(ReadKind.VALUE, entry.value, Version(writer, entry.incarnation))

    def base(self, location: Location) -> Value:
        """Committed storage at ``location``, read once per block and cached (one snapshot)."""
        if location not in self._base:
            self._base[location] = self._storage(*location)
        return self._base[location]

    @property
    def base_reads(self) -> Mapping[Location, Value]:
        """Every location the block read from committed storage, with the value it saw."""
        return self._base

    # --- writes --------------------------------------------------------------------

    def record(self, version: Version, reads: ReadSet, writes: WriteSet,
               ranges: tuple[RangeRead, ...] = ()) -> bool:
        """Store an incarnation's read and write sets; True when it wrote a location its predecessor had not.

        Locations the previous incarnation wrote and this one does not lose
        their entries, so lower-indexed readers of those locations fall through
        to the next lower writer or the base.
        """
        tx_index = version.tx_index
        previous = self._written[tx_index]
        for location, value in writes.items():
            self._cell(location).put(tx_index, _Written(version.incarnation, value))
        current = frozenset(writes)
        for location in previous - current:
            self._cells[location].remove(tx_index)
        self._written[tx_index] = current
        self._read_sets[tx_index] = dict(reads)
        self._range_sets[tx_index] = ranges
        return not current <= previous

    def convert_writes_to_estimates(self, tx_index: int) -> None:
        """Mark every write of the transaction's last incarnation as ESTIMATE (it was aborted)."""
        for location in self._written[tx_index]:
            self._cells[location].put(tx_index, ESTIMATE)

    def _cell(self, location: Location) -> _Cell:
        cell = self._cells.get(location)
        if cell is None:
            cell = self._cells[location] = _Cell()
            insort(self._keys.setdefault(location[0], []), location[1])
        return cell

    # --- ranges --------------------------------------------------------------------

    def page(self, contract: str, start: bytes, end: bytes, descending: bool, limit: int,
             tx_index: int) -> tuple[list[tuple[bytes, Value, ReadVersion]], bool, tuple[bytes, bytes], int]:
        """Up to ``limit`` live entries of the range as ``tx_index`` reads it, in order.

        Returns (entries (key, value, version), whether more follow, the part of
        the range covered, NO_TX); or, when an ESTIMATE lies in the way, no
        entries and the blocking transaction (the reader must wait for it).
        """
        if self._scanner is None:
            raise NotImplementedError("this block's storage cannot read key ranges")
        found: list[tuple[bytes, Value, ReadVersion]] = []
        more = False
        for key in merged_keys(self._scanner, self._keys.get(contract, ()), contract, start, end, descending):
            result = self.read((contract, key), tx_index)
            if result.kind is ReadKind.ESTIMATE:
                return [], False, (start, end), result.blocking
            if result.value is None:
                continue
            if len(found) == limit:
                more = True
                break
            found.append((key, result.value, result.version))
        last = found[-1][0] if found else None
        return found, more, covered(start, end, descending, last, more), NO_TX

    def range_entries(self, contract: str, start: bytes, end: bytes,
                      tx_index: int) -> tuple[tuple[bytes, ReadVersion], ...] | None:
        """The (key, version) of every live entry of the range for ``tx_index``; None behind an ESTIMATE."""
        assert self._scanner is not None, "a range was recorded without a scanner"
        entries = []
        for key in merged_keys(self._scanner, self._keys.get(contract, ()), contract, start, end, False):
            result = self.read((contract, key), tx_index)
            if result.kind is ReadKind.ESTIMATE:
                return None
            if result.value is not None:
                entries.append((key, result.version))
        return tuple(entries)

    # --- validation and result -----------------------------------------------------

    def validate_read_set(self, tx_index: int) -> bool:
        """True when every read of the last recorded incarnation still resolves to the version it saw."""
        for location, seen in self._read_sets[tx_index].items():
            now = self.read(location, tx_index)
            if now.kind is ReadKind.ESTIMATE or now.version != seen:
                return False
        return all(self.range_entries(r.contract, r.start, r.end, tx_index) == r.entries
                   for r in self._range_sets[tx_index])

    def read_set(self, tx_index: int) -> Mapping[Location, ReadVersion]:
        """The last recorded read set of a transaction."""
        return self._read_sets[tx_index]

    def written(self, tx_index: int) -> frozenset[Location]:
        """The locations the transaction's last recorded incarnation wrote."""
        return self._written[tx_index]

    def snapshot(self) -> dict[Location, Value]:
        """The block's write set: per written location the value of its highest writer.

        Meaningful once every transaction is validated (no ESTIMATE is left then).
        """
        result: dict[Location, Value] = {}
        for location, cell in self._cells.items():
            if cell.writers:
                entry = cell.entries[cell.writers[-1]]
                if isinstance(entry, _Estimate):
                    raise RuntimeError(f"snapshot of an unfinished block: {location!r} is an ESTIMATE")
                result[location] = entry.value
        return result

    def locations(self) -> Iterable[Location]:
        """Every location some transaction has written at some point."""
        return self._cells.keys()
