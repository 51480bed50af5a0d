"""Liveness and recovery policy, as plain objects: who is dead, what a lost job becomes, what was answered.

The broker core (``wasmpool.broker.core``) asks this module three kinds of question,
all from an injected clock, so they are tested without sockets or sleeps.

The heartbeat contract itself (:class:`~wasmpool.wire.liveness.Liveness`) is
shared with workers and lives in ``wasmpool.wire.liveness``.

Lost jobs and the poison-pill cap
    A job is *lost* when its worker dies (the transport reports it gone),
    falls silent, overruns the job (no FINAL a liveness window after the
    job's own ``timeout + grace`` from dispatch, although it keeps
    heartbeating) or disconnects while holding it. A job whose REQUEST
    could not be sent (the worker was already gone) or that its worker
    dropped unrun (READY again while holding it) is not lost: it was never
    run there, and goes back to the queue as never tried. A call
    commits only with its FINAL, so running a lost job again elsewhere is
    safe; it goes back to the head of the queue with a fresh time budget.
    After ``max_losses`` losses the job fails with ``WORKER_LOST``, so a
    contract that crashes every worker it touches cannot crash-loop the pool.

Stored replies (exactly-once)
    A client resends a request with the same id after a timeout. The broker
    answers a repeated id from a stored reply (:class:`ReplyCache`, bounded
    by count and by age ``result_ttl``). The outcome of every call and
    block is also stored by the state store (a receipt, kept ``result_ttl``),
    in the same transaction as its writes or alone when it wrote nothing,
    so even a broker restarted between commit and reply answers the retry
    from it and never runs it twice.

"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from enum import StrEnum

DEFAULT_MAX_LOSSES = 3
DEFAULT_RESULT_TTL = 3600.0


class Loss(StrEnum):
    """How a job lost its worker (counted per reason in the broker's counters)."""

    DIED = "died"  # the transport says the worker is gone
    SILENT = "silent"  # no frame for the liveness window
    OVERRAN = "overran"  # still no FINAL a liveness window past the job's own deadline
    LEFT = "left"  # DISCONNECT while holding the job
    DROPPED = "dropped"  # READY again while holding the job (handed back unrun: never counted as a loss)


def poison_message(losses: int) -> str:
    """The error of a job given up after ``losses`` lost workers."""
    return (f"the job lost its worker {losses} times (the worker died, stalled or overran while "
            "running it); giving up so that it cannot crash-loop the pool")


def _size(frames: list[bytes]) -> int:
    return sum(len(frame) for frame in frames)


DEFAULT_REPLY_BYTES = 64 * 1024 * 1024
DEFAULT_REPLY_ENTRY = 1024 * 1024


class ReplyCache:
    """Replies of recent requests by request id, bounded by count, by bytes and by age (a TTL).

    A reply larger than ``max_entry`` bytes is not kept at all (the receipt
    the store keeps of a call or block answers its retry; other requests
    only read, and run again); the oldest replies go first when the cache
    holds more than ``capacity`` replies or ``max_bytes`` bytes.
    """

    def __init__(self, capacity: int, ttl: float, max_bytes: int = DEFAULT_REPLY_BYTES,
                 max_entry: int = DEFAULT_REPLY_ENTRY) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_entry = max_entry
        self.bytes = 0  # the replies' frames together
        self.refused = 0  # replies too large to keep
        self._entries: OrderedDict[bytes, tuple[float, list[bytes]]] = OrderedDict()

    def put(self, rid: bytes, frames: list[bytes], now: float) -> None:
        size = _size(frames)
        self._drop(rid)
        if size > self.max_entry:
            self.refused += 1
            return
        self._entries[rid] = (now + self.ttl, frames)
        self.bytes += size
        while len(self._entries) > self.capacity or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, rid: bytes) -> None:
        entry = self._entries.pop(rid, None)
        if entry is not None:
            self.bytes -= _size(entry[1])

    def get(self, rid: bytes, now: float) -> list[bytes] | None:
        """The stored reply of ``rid`` unless it expired."""
        entry = self._entries.get(rid)
        if entry is None:
            return None
        if entry[0] <= now:
            self._drop(rid)
            return None
        return entry[1]

    def expire(self, now: float) -> int:
        """Drop expired replies (oldest first); returns how many."""
        dropped = 0
        while self._entries:
            rid, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                break
            self._drop(rid)
            dropped += 1
        return dropped

    def __contains__(self, rid: object) -> bool:
        return rid in self._entries

    def __getitem__(self, rid: bytes) -> list[bytes]:
        return self._entries[rid][1]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._entries)
