"""The state a running call reads (the host ABI's StateReader), through questions to the broker.

A reader never touches a socket: it asks through ``ask``, a function that
sends a CALLBACK about the running job and returns the broker's reply (in a
worker process, :meth:`wasmpool.worker.process.Worker.callback`).

``get(key)`` reads the job's own namespace; ``get_in(space, key)`` and
``scan(..., space=)`` another one, a contract the job calls
(``call_contract``) or the contract registry (``protocol.REGISTRY_SPACE``):
the CALLBACK names it (``space``), and the broker records the read by location.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p

Question = Callable[[int], m.Callback]
"""A CALLBACK about the running job, once the worker's session gives it its sequence number."""

Reply = m.ReadReply | m.CodeReply | m.ScanReply
Ask = Callable[[Question], Reply]
"""Sends a CALLBACK about the running job; returns the broker's reply (StateUnavailable: none, or refused)."""

UNWRITTEN = -1
"""The chunk position reported for a read answered by the broker (no earlier call of the chunk wrote it)."""


class MappingState:
    """Committed state of every namespace in a mapping ``(namespace, key) -> value``, read in process.

    A job's reader (its own namespace is ``own``) for running calls without
    a broker: a serial reference execution of a block, or an embedder
    keeping state in its own structure. A None value is an absent key. Range
    reads sort the namespace's keys on every page (no index): for tests and
    references, not for large state.
    """

    def __init__(self, state: Mapping[tuple[str, bytes], bytes | None], own: str) -> None:
        self.state, self.own = state, own

    def get(self, key: bytes) -> bytes | None:
        return self.state.get((self.own, key))

    def get_in(self, space: str, key: bytes) -> bytes | None:
        return self.state.get((space, key))

    def scan(self, start: bytes, end: bytes, order: int, limit: int,
             space: str | None = None) -> tuple[list[list[bytes]], bool]:
        """A page of ``[start, end)`` of ``space`` (the job's own by default) in ``order``; more follow?"""
        where = self.own if space is None else space
        keys = sorted(key for (name, key), value in self.state.items()
                      if name == where and value is not None and start <= key and (not end or key < end))
        if order == 1:
            keys.reverse()
        return [[key, self.state[where, key] or b""] for key in keys[:limit]], len(keys) > limit


class BrokerState:
    """A job's committed state, read through the broker.

    ``prefetched``: reads of the job's own namespace the broker answered
    when it sent the job (the REQUEST's ``prefetched``, ``[key, value or
    None]``): read without a CALLBACK. The broker noted their versions; it
    counts a key in the job's read set only if the call read it, so
    :attr:`ahead` lists the indexes of those the call read, in the order
    it read them (the result's ``ahead``).
    """

    def __init__(self, ask: Ask, prefetched: Iterable[list[Any]] = ()) -> None:
        self.ask = ask
        self.prefetched: dict[bytes, tuple[int, bytes | None]] = {}
        for index, (key, value) in enumerate(prefetched):
            self.prefetched.setdefault(key, (index, value))
        self.ahead: list[int] = []

    def get(self, key: bytes) -> bytes | None:
        answered = self.prefetched.pop(key, None)  # the host reads a key once: popped, it is not listed twice
        if answered is not None:
            self.ahead.append(answered[0])
            return answered[1]
        return value_of(self.ask(lambda seq: m.ReadCallback(key, seq)))

    def get_in(self, space: str, key: bytes) -> bytes | None:
        """``key`` of namespace ``space`` (a contract's address in hex, or the registry's)."""
        return value_of(self.ask(lambda seq: m.ReadCallback(key, seq, space=space)))

    def scan(self, start: bytes, end: bytes, order: int, limit: int,
             space: str | None = None) -> tuple[list[list[bytes]], bool]:
        """One page of committed entries of ``[start, end)`` in ``order``, and whether more follow
        (``space``: of that namespace, not the job's)."""
        reply = self.ask(lambda seq: m.ScanCallback(start, end, order, limit, seq, space=space))
        if not isinstance(reply, m.ScanReply):
            raise errors.StateUnavailable("the broker did not answer a key range read with entries")
        return reply.entries, reply.more


def _scan_question(start: bytes, end: bytes, order: int, limit: int, index: int, space: str | None,
                   seq: int) -> m.Callback:
    return m.ScanCallback(start, end, order, limit, seq, index, space)


def value_of(reply: Reply) -> bytes | None:
    """The value a read's reply carries (None: the key has none)."""
    return reply.value if isinstance(reply, m.ReadReply) else None


class ChunkState:
    """State as a block chunk's calls see it: the earlier calls' writes over broker reads.

    A location the chunk's own calls did not write reads the same value for
    every call of the chunk (the write of the highest transaction before the
    chunk), so a broker answer is kept for the rest of the chunk -- and the
    broker may send such answers with the chunk (each entry's
    ``prefetched``): read without a CALLBACK, reported alike (UNWRITTEN).

    A chunk that *continues* the previous one (its calls come right after
    that chunk's, in the same block: the REQUEST's ``after``) starts from
    that chunk's writes, carried over (``carried``): the two are one *chain*
    of calls, and positions are counted along the chain (``base`` is the
    position of this chunk's first call). Broker answers are not carried:
    each chunk has its own.
    """

    def __init__(self, ask: Ask, job_id: bytes, carried: ChunkState | None = None) -> None:
        self.ask = ask
        self.job_id = job_id
        self.base: int = 0 if carried is None else carried.end
        self.end: int = self.base  # the chain position after this chunk's calls (set by prefill)
        # location -> (chain position of the writer, value); a continued chain's dict goes on growing
        self.written: dict[tuple[str, bytes], tuple[int, bytes | None]] = (
            {} if carried is None else carried.written)
        self.fetched: dict[tuple[str, bytes], bytes | None] = {}

    def prefill(self, jobs: list[dict[str, Any]]) -> tuple[int, str]:
        """Check the chunk's entries and keep the answers sent with them, up to the first malformed one.

        Returns how many leading entries are well formed, and what is wrong with the next (if any).
        """
        self.end = self.base + len(jobs)
        for position, job in enumerate(jobs):
            try:
                p.check_fields(job, p.JOB_FIELDS)
            except errors.BadRequest as exc:
                return position, exc.reason
            for key, value in job.get("prefetched", ()):
                self.fetched.setdefault((namespace(job), key), value)
        return len(jobs), ""

    def reader(self, position: int, code_id: str) -> ChunkReader:
        """A reader for the call at ``position`` of state namespace ``code_id`` (:func:`namespace`)."""
        return ChunkReader(self, position, code_id)

    def wrote(self, position: int, code_id: str, writes: dict[bytes, bytes | None],
              nested: Iterable[list[Any]] = ()) -> None:
        """An ok call's writes (``position`` in the chunk): later calls of the chain read them.

        ``nested``: its writes in the namespaces of contracts it called, ``[space, key, value]``
        (the result's ``nested_writes``).
        """
        at = self.base + position
        for key, value in writes.items():
            self.written[code_id, key] = (at, value)
        for space, key, value in nested:
            self.written[space, key] = (at, value)


class ChunkReader:
    """One chunk call's state reader, noting where each read came from.

    A read outside the call's own namespace (a called contract's, or the
    registry's) is noted with its namespace: ``[key, writer, space]``.
    """

    def __init__(self, chunk: ChunkState, position: int, code_id: str) -> None:
        self.chunk = chunk
        self.position = position
        self.code_id = code_id
        self.reads: list[list[Any]] = []  # [key, writer's chain position or UNWRITTEN(, space)]

    def scan(self, start: bytes, end: bytes, order: int, limit: int,
             space: str | None = None) -> tuple[list[list[bytes]], bool]:
        """A page of the range as this call sees it: the broker's page (below the chunk) under the chain's
        writes in the part of the range the page covers (the broker records the same to validate it).
        ``space``: a called contract's namespace instead of the call's own."""
        descending = order == 1
        own = self.code_id if space is None else space
        while True:
            question = functools.partial(_scan_question, start, end, order, limit, self.position, space)
            reply = self.chunk.ask(question)
            if not isinstance(reply, m.ScanReply):
                raise errors.StateUnavailable("the broker did not answer a key range read with entries")
            low, high = start, end
            if reply.more:  # the page vouches for the range up to its last key only
                last = reply.entries[-1][0]
                low, high = (last, end) if descending else (start, last + b"\x00")
            merged: dict[bytes, bytes | None] = {key: value for key, value in reply.entries}
            for (code_id, key), (_, value) in self.chunk.written.items():
                if code_id == own and low <= key and (not high or key < high):
                    merged[key] = value
            entries = sorted(([k, v] for k, v in merged.items() if v is not None), reverse=descending)
            if entries or not reply.more:
                return entries, reply.more
            if descending:  # every entry hidden by the chain's deletes: the next page
                end = low
            else:
                start = high

    def get(self, key: bytes) -> bytes | None:
        return self._read(self.code_id, key, None)

    def get_in(self, space: str, key: bytes) -> bytes | None:
        """``key`` of another namespace: a called contract's (its address in hex) or the registry's."""
        return self._read(space, key, space)

    def _read(self, own: str, key: bytes, space: str | None) -> bytes | None:
        location = (own, key)
        chunk = self.chunk
        tail = [] if space is None else [space]
        if location in chunk.written:
            writer, value = chunk.written[location]
            self.reads.append([key, writer, *tail])
            return value
        if location not in chunk.fetched:
            position = self.position
            chunk.fetched[location] = value_of(
                chunk.ask(lambda seq: m.ReadCallback(key, seq, position, space)))
        self.reads.append([key, UNWRITTEN, *tail])
        return chunk.fetched[location]


def namespace(job: Mapping[str, Any]) -> str:
    """Where a job's state lives: its contract's address in hex, or its code id for a legacy call."""
    address = job.get("address")
    return address.hex() if address else str(job["code_id"])
