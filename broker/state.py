"""Committed contract state and deployed code, behind one small interface.

Every contract (code id) has its own key namespace. Each stored key carries a
*version*: the store-wide commit sequence number of the commit that last
wrote it (0 for a key never written). Deleting a key leaves a tombstone
(value ``None``) with a fresh version, so "absent" read before and after an
intervening write-then-delete is still told apart.

Concurrency control is optimistic, as in Hyperledger Fabric's MVCC
validation: a call runs against committed state while the broker records
the version of every key it read; at commit the store re-checks each of
those versions and applies the write set only if none changed, all in one
transaction, giving the commit a new sequence number. A stale read raises
:class:`StaleRead` and nothing is written; the broker then re-executes the
call against fresh state.

Two implementations share one test suite: :class:`SQLiteStore` (stdlib
sqlite3 in WAL mode, the default, a file under ``./var/``) and
:class:`MemoryStore`. A node embedding the broker may plug in its own
:class:`StateStore`.
"""

from __future__ import annotations

import sqlite3
import time
from abc import ABC, abstractmethod
from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

DEFAULT_URL = "sqlite:var/state.db"
ABSENT_VERSION = 0


class Versioned(NamedTuple):
    """A key's committed value (``None`` when absent or deleted) and its version."""

    value: bytes | None
    version: int


ABSENT = Versioned(None, ABSENT_VERSION)
Location = tuple[str, bytes]
"""A key of the whole store: (code id, key)."""


class Entry(NamedTuple):
    """A live entry of an ordered range read: key, value and version."""

    key: bytes
    value: bytes
    version: int


class StaleRead(Exception):
    """A commit's read set is out of date; ``keys`` are the stale keys."""

    def __init__(self, code_id: str, keys: list[bytes]) -> None:
        self.code_id = code_id
        self.keys = keys
        super().__init__(f"{len(keys)} key(s) of {code_id[:12]} changed since they were read")


STORAGE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, OSError)
"""What a store raises when it cannot write (disk full, I/O error): the broker answers STORAGE for them."""


class StateStore(ABC):
    """Versioned per-contract key/value state plus module storage."""

    @abstractmethod
    def get(self, code_id: str, key: bytes) -> Versioned:
        """The committed value of ``key`` in ``code_id``'s namespace and its version."""

    @abstractmethod
    def commit(self, code_id: str, reads: Mapping[bytes, int], writes: Mapping[bytes, bytes | None]) -> int:
        """Atomically check ``reads`` (key -> version read) and apply ``writes`` (None deletes).

        Returns the commit's sequence number, the new version of every written
        key; raises StaleRead, writing nothing, when a read version changed.
        """

    @abstractmethod
    def put_code(self, code_id: str, module: bytes) -> None:
        """Store a module under its code id (idempotent)."""

    @abstractmethod
    def get_code(self, code_id: str) -> bytes | None:
        """A stored module, or None."""

    @abstractmethod
    def sequence(self) -> int:
        """The last commit's sequence number (0 before the first commit)."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release resources; the default has none."""

    def scan(self, code_id: str, start: bytes, end: bytes, descending: bool, limit: int) -> list[Entry]:
        """Up to ``limit`` live entries of ``code_id`` with ``start <= key < end`` (empty ``end``: no bound).

        Bytewise key order, ascending or ``descending``; tombstones are left
        out. Served from an index (state iteration: ``state_scan``); stores
        that predate iteration lack it, and contracts that scan then fail.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot read key ranges (state iteration)")

    # --- blocks: one commit across contracts, and the whole state for the state root ---

    def commit_many(self, reads: Mapping[Location, int], writes: Mapping[Location, bytes | None]) -> int:
        """:meth:`commit` across contracts: reads and writes keyed (code id, key), all or nothing.

        A block's combined write set spans contracts and must land as one
        commit (one sequence number) or not at all. Stores that predate
        blocks lack it: the broker then refuses blocks, nothing else.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot commit across contracts (blocks)")

    def items(self) -> Iterator[tuple[str, bytes, bytes]]:
        """Every live entry (code id, key, value), tombstones left out: what the state root covers."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its entries (state root)")

    # --- receipts: the stored replies of calls and blocks (exactly-once across broker restarts) ---
    #
    # A receipt is the packed FINAL body the client was given, kept under the
    # request's scoped key until ``ttl`` seconds have passed; it is written in
    # the transaction of the request's writes, or alone when it wrote nothing.

    def commit_with_receipt(self, code_id: str, reads: Mapping[bytes, int],
                            writes: Mapping[bytes, bytes | None], request_id: bytes, reply: bytes,
                            ttl: float) -> int:
        """:meth:`commit`, also storing ``reply`` for ``request_id`` for ``ttl`` seconds, atomically.

        The default stores no receipt (the broker's in-memory reply cache
        still answers retries while it runs); SQLiteStore and MemoryStore
        keep them, SQLiteStore in the commit's own transaction.
        """
        return self.commit(code_id, reads, writes)

    def record_receipt(self, request_id: bytes, reply: bytes, ttl: float) -> None:  # noqa: B027 - optional
        """Store ``reply`` for ``request_id`` for ``ttl`` seconds, alone (an outcome that wrote nothing).

        The default stores nothing, as :meth:`commit_with_receipt`.
        """

    def commit_many_with_receipt(self, reads: Mapping[Location, int], writes: Mapping[Location, bytes | None],
                                 request_id: bytes, reply: bytes, ttl: float) -> int:
        """:meth:`commit_many`, also storing ``reply`` for ``request_id`` for ``ttl`` seconds, atomically."""
        return self.commit_many(reads, writes)

    def receipt(self, request_id: bytes) -> bytes | None:
        """The stored reply of a request, unless it expired; the default has none."""
        return None

    def purge_receipts(self) -> int:
        """Forget expired receipts; returns how many."""
        return 0

    # --- pins: the modules every worker keeps compiled (an operator setting, not contract state) ---
    #
    # Pins live apart from contract state: they have no version, no sequence
    # number, and are not among :meth:`items`, so pinning never changes the
    # state root. A store that keeps none (the default) lets the broker pin
    # for its own lifetime only.

    def pins(self) -> frozenset[str]:
        """The code ids pinned durably (the default keeps none)."""
        return frozenset()

    def set_pinned(self, code_id: str, pinned: bool) -> bool:
        """Record ``code_id`` as pinned or not; True when that changed what was recorded.

        The default records nothing and says so (False): the broker's own set still holds the pin.
        """
        return False


class MemoryStore(StateStore):
    """State in dictionaries: for tests, benchmarks and nodes with their own persistence."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, bytes], Versioned] = {}
        self._keys: dict[str, list[bytes]] = {}  # per contract, every stored key (tombstones too), sorted
        self._code: dict[str, bytes] = {}
        self._sequence = 0
        self._receipts: dict[bytes, tuple[float, bytes]] = {}  # request id -> (expires, reply)
        self._pins: set[str] = set()

    def get(self, code_id: str, key: bytes) -> Versioned:
        return self._state.get((code_id, key), ABSENT)

    def commit(self, code_id: str, reads: Mapping[bytes, int], writes: Mapping[bytes, bytes | None]) -> int:
        stale = [k for k, v in reads.items() if self.get(code_id, k).version != v]
        if stale:
            raise StaleRead(code_id, stale)
        self._sequence += 1
        for key, value in writes.items():
            self._put((code_id, key), Versioned(value, self._sequence))
        return self._sequence

    def _put(self, location: Location, entry: Versioned) -> None:
        """Store one entry, keeping the contract's sorted key list (a new key is inserted in order)."""
        if location not in self._state:
            insort(self._keys.setdefault(location[0], []), location[1])
        self._state[location] = entry

    def scan(self, code_id: str, start: bytes, end: bytes, descending: bool, limit: int) -> list[Entry]:
        """Bisect the contract's sorted key list for the range, then walk it, skipping tombstones."""
        keys = self._keys.get(code_id, [])
        lo = bisect_left(keys, start)
        hi = bisect_left(keys, end) if end else len(keys)
        found: list[Entry] = []
        for index in (range(hi - 1, lo - 1, -1) if descending else range(lo, hi)):
            if len(found) >= limit:
                break
            key = keys[index]
            value, version = self._state[code_id, key]
            if value is not None:
                found.append(Entry(key, value, version))
        return found

    def commit_with_receipt(self, code_id: str, reads: Mapping[bytes, int],
                            writes: Mapping[bytes, bytes | None], request_id: bytes, reply: bytes,
                            ttl: float) -> int:
        sequence = self.commit(code_id, reads, writes)
        self._receipts[bytes(request_id)] = (time.time() + ttl, bytes(reply))
        return sequence

    def record_receipt(self, request_id: bytes, reply: bytes, ttl: float) -> None:
        self._receipts[bytes(request_id)] = (time.time() + ttl, bytes(reply))

    def commit_many_with_receipt(self, reads: Mapping[Location, int], writes: Mapping[Location, bytes | None],
                                 request_id: bytes, reply: bytes, ttl: float) -> int:
        sequence = self.commit_many(reads, writes)
        self.record_receipt(request_id, reply, ttl)
        return sequence

    def receipt(self, request_id: bytes) -> bytes | None:
        entry = self._receipts.get(bytes(request_id))
        return entry[1] if entry is not None and entry[0] > time.time() else None

    def purge_receipts(self) -> int:
        now = time.time()
        expired = [rid for rid, (expires, _) in self._receipts.items() if expires <= now]
        for rid in expired:
            del self._receipts[rid]
        return len(expired)

    def put_code(self, code_id: str, module: bytes) -> None:
        self._code.setdefault(code_id, bytes(module))

    def pins(self) -> frozenset[str]:
        return frozenset(self._pins)

    def set_pinned(self, code_id: str, pinned: bool) -> bool:
        before = code_id in self._pins
        if pinned:
            self._pins.add(code_id)
        else:
            self._pins.discard(code_id)
        return before != pinned

    def get_code(self, code_id: str) -> bytes | None:
        return self._code.get(code_id)

    def sequence(self) -> int:
        return self._sequence

    def commit_many(self, reads: Mapping[Location, int], writes: Mapping[Location, bytes | None]) -> int:
        stale = [(c, k) for (c, k), v in reads.items() if self.get(c, k).version != v]
        if stale:
            raise StaleRead(stale[0][0], [k for _, k in stale])
        self._sequence += 1
        for location, value in writes.items():
            self._put(location, Versioned(value, self._sequence))
        return self._sequence

    def items(self) -> Iterator[tuple[str, bytes, bytes]]:
        for (code_id, key), (value, _) in list(self._state.items()):
            if value is not None:
                yield code_id, key, value


SCHEMA = (
    "CREATE TABLE IF NOT EXISTS code (code_id TEXT PRIMARY KEY, module BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS state (code_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB,"
    " version INTEGER NOT NULL, PRIMARY KEY (code_id, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT OR IGNORE INTO meta VALUES ('sequence', 0)",
    "CREATE TABLE IF NOT EXISTS receipts (request_id BLOB PRIMARY KEY, reply BLOB NOT NULL,"
    " expires REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS pins (code_id TEXT PRIMARY KEY) WITHOUT ROWID",
)
UPSERT = (
    "INSERT INTO state VALUES (?, ?, ?, ?) ON CONFLICT (code_id, key)"
    " DO UPDATE SET value = excluded.value, version = excluded.version"
)


class SQLiteStore(StateStore):
    """State in one SQLite file (WAL journal); each commit is one IMMEDIATE transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA:
            self._db.execute(statement)

    def get(self, code_id: str, key: bytes) -> Versioned:
        row = self._db.execute(
            "SELECT value, version FROM state WHERE code_id = ? AND key = ?", (code_id, key)
        ).fetchone()
        return ABSENT if row is None else Versioned(row[0], row[1])

    def commit(self, code_id: str, reads: Mapping[bytes, int], writes: Mapping[bytes, bytes | None]) -> int:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            sequence = self._commit(code_id, reads, writes)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return sequence

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it rolls back itself on a full disk)."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _commit(self, code_id: str, reads: Mapping[bytes, int], writes: Mapping[bytes, bytes | None]) -> int:
        stale = [k for k, v in reads.items() if self.get(code_id, k).version != v]
        if stale:
            raise StaleRead(code_id, stale)
        sequence = self.sequence() + 1
        self._db.executemany(UPSERT, [(code_id, k, v, sequence) for k, v in writes.items()])
        self._db.execute("UPDATE meta SET value = ? WHERE name = 'sequence'", (sequence,))
        return sequence

    def commit_with_receipt(self, code_id: str, reads: Mapping[bytes, int],
                            writes: Mapping[bytes, bytes | None], request_id: bytes, reply: bytes,
                            ttl: float) -> int:
        """The commit and its receipt in one transaction: a restarted broker still knows the reply."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            sequence = self._commit(code_id, reads, writes)
            self._insert_receipt(request_id, reply, ttl)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return sequence

    def _insert_receipt(self, request_id: bytes, reply: bytes, ttl: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO receipts VALUES (?, ?, ?)",
                         (bytes(request_id), bytes(reply), time.time() + ttl))

    def record_receipt(self, request_id: bytes, reply: bytes, ttl: float) -> None:
        """One receipt, in a transaction of its own."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._insert_receipt(request_id, reply, ttl)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def receipt(self, request_id: bytes) -> bytes | None:
        row = self._db.execute("SELECT reply FROM receipts WHERE request_id = ? AND expires > ?",
                               (bytes(request_id), time.time())).fetchone()
        return None if row is None else bytes(row[0])

    def purge_receipts(self) -> int:
        return self._db.execute("DELETE FROM receipts WHERE expires <= ?", (time.time(),)).rowcount

    def put_code(self, code_id: str, module: bytes) -> None:
        self._db.execute("INSERT OR IGNORE INTO code VALUES (?, ?)", (code_id, bytes(module)))

    def get_code(self, code_id: str) -> bytes | None:
        row = self._db.execute("SELECT module FROM code WHERE code_id = ?", (code_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def sequence(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'sequence'").fetchone()
        return int(row[0])

    def pins(self) -> frozenset[str]:
        return frozenset(row[0] for row in self._db.execute("SELECT code_id FROM pins"))

    def set_pinned(self, code_id: str, pinned: bool) -> bool:
        """One statement, in a transaction of its own (autocommit)."""
        if pinned:
            return self._db.execute("INSERT OR IGNORE INTO pins VALUES (?)", (code_id,)).rowcount > 0
        return self._db.execute("DELETE FROM pins WHERE code_id = ?", (code_id,)).rowcount > 0

    def commit_many(self, reads: Mapping[Location, int], writes: Mapping[Location, bytes | None]) -> int:
        """One IMMEDIATE transaction for a whole block: every read checked, every write applied."""
        return self._commit_block(reads, writes, None)

    def commit_many_with_receipt(self, reads: Mapping[Location, int], writes: Mapping[Location, bytes | None],
                                 request_id: bytes, reply: bytes, ttl: float) -> int:
        """A block's commit and its receipt (receipts and state root) in one transaction."""
        return self._commit_block(reads, writes, (request_id, reply, ttl))

    def _commit_block(self, reads: Mapping[Location, int], writes: Mapping[Location, bytes | None],
                      receipt: tuple[bytes, bytes, float] | None) -> int:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            stale = [(c, k) for (c, k), v in reads.items() if self.get(c, k).version != v]
            if stale:
                raise StaleRead(stale[0][0], [k for _, k in stale])
            sequence = self.sequence() + 1
            self._db.executemany(UPSERT, [(c, k, v, sequence) for (c, k), v in writes.items()])
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'sequence'", (sequence,))
            if receipt is not None:
                self._insert_receipt(*receipt)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return sequence

    def scan(self, code_id: str, start: bytes, end: bytes, descending: bool, limit: int) -> list[Entry]:
        """One indexed query over the (code_id, key) primary key; BLOBs compare bytewise (memcmp)."""
        bound = " AND key < ?" if end else ""
        order = "DESC" if descending else "ASC"
        args: tuple[object, ...] = (code_id, start, end, limit) if end else (code_id, start, limit)
        rows = self._db.execute(
            f"SELECT key, value, version FROM state WHERE code_id = ? AND key >= ?{bound}"
            f" AND value IS NOT NULL ORDER BY key {order} LIMIT ?", args).fetchall()
        return [Entry(bytes(key), bytes(value), version) for key, value, version in rows]

    def items(self) -> Iterator[tuple[str, bytes, bytes]]:
        rows = self._db.execute("SELECT code_id, key, value FROM state WHERE value IS NOT NULL").fetchall()
        for code_id, key, value in rows:
            yield code_id, bytes(key), bytes(value)

    def close(self) -> None:
        self._db.close()


STORE_SCHEMES = ("sqlite:", "memory:")


def open_store(url: str = DEFAULT_URL) -> StateStore:
    """A store from a URL: ``sqlite:PATH`` (relative to the working directory) or ``memory:``."""
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:").removeprefix("//")
        return SQLiteStore(path or DEFAULT_URL.removeprefix("sqlite:"))
    if url in ("memory:", "memory"):
        return MemoryStore()
    raise ValueError(f"unknown state store {url!r}: use one of {', '.join(STORE_SCHEMES)}")
