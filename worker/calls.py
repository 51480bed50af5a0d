"""Calls between contracts (``call_contract``): the transaction, its journal and the outcome codes.

Theory of operation. One outermost call is one *transaction*; every
contract frame it runs -- the outermost and each callee of
``call_contract``, nested up to :data:`MAX_CALL_DEPTH` -- works in it:

- **Writes** are buffered per namespace (a contract's address in hex; the
  code id for a legacy call) in first-write order. A frame writes only its
  own namespace and reads its transaction's writes there, so a callee sees
  what an earlier successful callee of the same contract wrote.
- **A journal with checkpoints**, like the EVM's: before a callee runs, the
  transaction takes a :class:`Checkpoint`; each write made inside a callee
  notes what it replaced (an undo entry). A callee that returns 0 keeps its
  writes and events (they join its caller's); any other outcome rolls the
  writes and events back to the checkpoint, and the caller goes on. Logs
  stay: they are diagnostics, not effects. Only the outermost call's
  outcome commits, everything or nothing.
- **Reads** go through one ``seen`` cache per namespace: a location read
  once reads the same for the rest of the transaction (the broker's read
  set holds one version per location). Reads made by a callee that failed
  stay in it: its return code steered the caller.
- **Caps** (``HostLimits``: written keys, events, event bytes, logs) count
  over the whole transaction.

The codes a caller sees are :class:`CallCode`; :func:`call_code` maps a
callee's failure to one, or to None for a failure that is not a property of
the contracts (state unavailable, a time limit, an internal error) and so
ends the whole transaction instead, as it would any call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from wasmpool import wasm
from wasmpool.wire import errors
from wasmpool.wire import protocol as p

MAX_CALL_DEPTH = 32
"""Contract frames on the stack at most, counting the outermost: the call that would make the 33rd gets
:attr:`CallCode.ERROR`."""
MAX_FUNCTION_NAME = 256
"""Bytes of the function name ``call_contract`` takes at most (more traps)."""


class CallCode(IntEnum):
    """What ``call_contract`` returns to the calling contract."""

    OK = 0  # the callee returned: its writes and events join the caller's
    REVERTED = 1  # the callee called revert: return_data is its message
    TRAP = 2  # the callee trapped (stack exhaustion and a read-only query's write included)
    OUT_OF_GAS = 3  # the callee used its whole cap
    ERROR = 4  # no such contract or function, a module that cannot link, reentrancy, depth, a legacy caller


CALL_CODES: tuple[tuple[type[BaseException], CallCode], ...] = (
    (errors.Revert, CallCode.REVERTED),
    (wasm.GasExhausted, CallCode.OUT_OF_GAS),  # before Trap, of which it is one
    (wasm.Trap, CallCode.TRAP),
    (errors.ReadOnlyViolation, CallCode.TRAP),
    (wasm.LinkError, CallCode.ERROR),
    (errors.BadCall, CallCode.ERROR),
)
"""A callee's failure -> the code its caller gets, first match wins. Anything else is not a code."""


def call_code(exc: BaseException) -> CallCode | None:
    """The code a callee's failure ``exc`` gives its caller; None: it ends the whole transaction."""
    for kind, code in CALL_CODES:
        if isinstance(exc, kind):
            return code
    return None


Location = tuple[str, bytes]
"""A state location: (namespace, key)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where the journal stood when a callee started: what a failed callee is rolled back to."""

    undo: int  # entries in the undo log
    events: int
    event_bytes: int


@dataclass(slots=True)
class Transaction:
    """What every frame of one outermost call shares (see the module docstring).

    ``reader`` reads committed state (``get`` for the outermost namespace,
    ``get_in`` and ``scan(space=...)`` for others); ``modules`` finds a
    called contract's module by code id (None: no contract can be called).
    """

    reader: Any
    root: str  # the outermost frame's namespace
    readonly: bool = False
    modules: Callable[[str], Any] | None = None
    writes: dict[str, dict[bytes, bytes | None]] = field(default_factory=dict)
    seen: dict[str, dict[bytes, bytes | None]] = field(default_factory=dict)
    logs: list[bytes] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # (type, attrs) or (type, attrs, emitter address)
    event_bytes: int = 0
    stack: list[bytes] = field(default_factory=list)  # the addresses of the contract frames running
    undo: list[tuple[str, bytes, bool, bytes | None]] = field(default_factory=list)  # (space, key, had, old)
    code_ids: dict[bytes, str | None] = field(default_factory=dict)  # address -> its code id, looked up once

    def space_writes(self, space: str) -> dict[bytes, bytes | None]:
        return self.writes.setdefault(space, {})

    def space_seen(self, space: str) -> dict[bytes, bytes | None]:
        return self.seen.setdefault(space, {})

    def written(self) -> int:
        """Keys written so far, over every namespace (the ``writes`` cap counts them all)."""
        return sum(len(writes) for writes in self.writes.values())

    def write(self, space: str, key: bytes, value: bytes | None) -> None:
        """Buffer a write; inside a callee, note what it replaced so that a rollback can restore it."""
        writes = self.space_writes(space)
        if len(self.stack) > 1:
            had = key in writes
            self.undo.append((space, key, had, writes.get(key)))
        writes[key] = value

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(len(self.undo), len(self.events), self.event_bytes)

    def rollback(self, mark: Checkpoint) -> None:
        """Undo the writes and events made since ``mark`` (a failed callee's, and its callees')."""
        undo = self.undo
        while len(undo) > mark.undo:
            space, key, had, old = undo.pop()
            writes = self.writes[space]
            if had:
                writes[key] = old
            else:
                del writes[key]
        del self.events[mark.events:]
        self.event_bytes = mark.event_bytes

    def settle(self) -> None:
        """Back in the outermost frame: no checkpoint is open, so the undo log can go."""
        if len(self.stack) <= 1:
            self.undo.clear()

    def code_id(self, address: bytes) -> str | None:
        """The code id of the contract at ``address`` (None: no such contract), from its registry record,
        read once per transaction (the read is in the read set: a migrate meanwhile re-executes the call)."""
        if address not in self.code_ids:
            record = read_in(self.reader, p.REGISTRY_SPACE, address)
            self.space_seen(p.REGISTRY_SPACE)[address] = record
            self.code_ids[address] = code_of(record)
        return self.code_ids[address]

    def nested_writes(self) -> list[list[Any]]:
        """The writes outside the outermost namespace, ``[space, key, value or None]``: namespaces in the
        order their contracts were first entered, keys in first-write order within each."""
        return [[space, key, value] for space, writes in self.writes.items() if space != self.root
                for key, value in writes.items()]


def read_in(reader: Any, space: str, key: bytes) -> bytes | None:
    """Read ``key`` of namespace ``space`` through a reader that can read other namespaces."""
    get_in = getattr(reader, "get_in", None)
    if get_in is None:
        raise errors.InternalError("this call's state reader cannot read other contracts' state")
    value: bytes | None = get_in(space, key)
    return value


def code_of(record: bytes | None) -> str | None:
    """The code id in a registry record (None: no record, or one without a code id)."""
    if record is None:
        return None
    try:
        fields = p.unpack(record)
    except errors.ProtocolError:  # a malformed record names no code
        return None
    code_id = fields.get("code_id")
    return code_id if p.is_code_id(code_id) else None


class SpaceReader:
    """A reader of one other namespace (a callee's state), as frames read their own: ``get``, ``scan``."""

    __slots__ = ("reader", "space")

    def __init__(self, reader: Any, space: str) -> None:
        self.reader = reader
        self.space = space

    def get(self, key: bytes) -> bytes | None:
        return read_in(self.reader, self.space, key)

    def scan(self, start: bytes, end: bytes, order: int, limit: int) -> tuple[list[list[bytes]], bool]:
        result: tuple[list[list[bytes]], bool] = self.reader.scan(start, end, order, limit, space=self.space)
        return result
