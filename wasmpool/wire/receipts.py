"""The data of a block: calls in, outcomes of executions, receipts and the block result out.

- :class:`BlockCall`: one call of a block (what a client sends): code id,
  function, numeric args, input bytes, context, gas limit and an optional
  declared access set (a speed hint).
- :class:`Outcome`: what one *execution* of a call produced (status,
  output, gas used, logs, events, writes, results, error); the executor records the
  outcome of the execution that was finally validated.
- :class:`Receipt`: the outcome of a call in the block's result. A call
  that did not end ``ok`` contributes no writes, whatever its execution
  returned. It carries the versions that decided it (engine semantics,
  gas schedule, host ABI, float policy): they are part of its encoding,
  so two nodes that ran different rules get different digests even when
  their outcomes happen to agree.
- :class:`BlockResult`: receipts in block order, the block's combined write
  set (sorted by contract, then key) and the state root after it.

Everything has a deterministic msgpack encoding (``to_wire`` gives plain
lists, maps with a fixed key order, bytes and numbers; :meth:`BlockResult.encode`
packs it), so two nodes that executed the same block produce identical
bytes and :meth:`BlockResult.digest` can be compared across nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from wasmpool.wire.protocol import Status

Location = tuple[str, bytes]
Value = bytes | None
Write = tuple[str, bytes, Value]
"""One write of a result: (contract, key, value); value None deletes."""

Number = int | float

DEFAULT_GAS_LIMIT = 10_000_000


def sorted_writes(writes: Mapping[Location, Value]) -> tuple[Write, ...]:
    """A write set as (contract, key, value) triples sorted by contract, then key."""
    return tuple((contract, key, writes[contract, key]) for contract, key in sorted(writes))


def _writes_to_wire(writes: Iterable[Write]) -> list[list[Any]]:
    return [[contract, key, value] for contract, key, value in writes]


def _writes_from_wire(raw: Iterable[Sequence[Any]]) -> tuple[Write, ...]:
    return tuple((str(contract), bytes(key), None if value is None else bytes(value))
                 for contract, key, value in raw)


@dataclass(frozen=True, slots=True)
class BlockCall:
    """One call of a block: which contract function, with what, in what context, with how much gas.

    ``access`` is the call's declared access set: keys of its own contract it
    expects to read. A hint for speed (the broker sends their values with
    the call), never part of the result: a missing or wrong list changes no
    receipt. Sent on the wire only when not empty.
    """

    code_id: str
    function: str
    args: tuple[Number, ...] = ()
    input: bytes = b""
    context: Mapping[str, Any] = field(default_factory=dict)
    gas_limit: int = DEFAULT_GAS_LIMIT
    access: tuple[bytes, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        wire = {"code_id": self.code_id, "function": self.function, "args": list(self.args),
                "input": self.input, "context": dict(self.context), "gas_limit": self.gas_limit}
        if self.access:
            wire["access"] = list(self.access)
        return wire

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> BlockCall:
        return cls(code_id=raw["code_id"], function=raw["function"], args=tuple(raw.get("args", ())),
                   input=bytes(raw.get("input", b"")), context=dict(raw.get("context", {})),
                   gas_limit=int(raw.get("gas_limit", DEFAULT_GAS_LIMIT)),
                   access=tuple(bytes(key) for key in raw.get("access", ())))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one execution of a call produced. ``writes`` maps (contract, key) to a value (None deletes)."""

    status: Status
    output: bytes = b""
    gas_used: int = 0
    logs: tuple[bytes, ...] = ()
    writes: Mapping[Location, Value] = field(default_factory=dict)
    results: tuple[Number, ...] = ()
    error: str | None = None
    versions: Mapping[str, int | str] = field(default_factory=dict)
    events: tuple[Event, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def effective_writes(self) -> Mapping[Location, Value]:
        """The writes that count: all of them for ``ok``, none for any other status."""
        return self.writes if self.ok else {}


@dataclass(frozen=True, slots=True)
class Receipt:
    """A call's result in a block: status, output, gas, logs, committed writes, results, error."""

    index: int
    status: Status
    output: bytes
    gas_used: int
    logs: tuple[bytes, ...]
    writes: tuple[Write, ...]
    results: tuple[Number, ...] = ()
    error: str | None = None
    versions: Mapping[str, int | str] = field(default_factory=dict)
    events: tuple[Event, ...] = ()

    @classmethod
    def from_outcome(cls, index: int, outcome: Outcome) -> Receipt:
        return cls(index=index, status=Status(outcome.status), output=bytes(outcome.output),
                   gas_used=outcome.gas_used, logs=tuple(bytes(log) for log in outcome.logs),
                   writes=sorted_writes(outcome.effective_writes()), results=tuple(outcome.results),
                   error=outcome.error, versions=dict(sorted(outcome.versions.items())),
                   events=events_of(outcome.events) if outcome.ok else ())

    def to_wire(self) -> dict[str, Any]:
        return {"index": self.index, "status": str(self.status), "output": self.output,
                "gas_used": self.gas_used, "logs": list(self.logs), "writes": _writes_to_wire(self.writes),
                "results": list(self.results), "error": self.error,
                "versions": dict(sorted(self.versions.items())),
                "events": [[e[0], [list(pair) for pair in e[1]], *e[2:]] for e in self.events]}

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Receipt:
        return cls(index=int(raw["index"]), status=Status(raw["status"]), output=bytes(raw["output"]),
                   gas_used=int(raw["gas_used"]), logs=tuple(bytes(log) for log in raw["logs"]),
                   writes=_writes_from_wire(raw["writes"]), results=tuple(raw.get("results", ())),
                   error=raw.get("error"), versions=dict(raw.get("versions", {})),
                   events=events_of(raw.get("events", ())))


@dataclass(frozen=True, slots=True)
class BlockResult:
    """A block's receipts in block order, its combined write set and the state root after it."""

    receipts: tuple[Receipt, ...]
    writes: tuple[Write, ...]
    state_root: bytes
    dry_run: bool = False

    @classmethod
    def build(cls, outcomes: Sequence[Outcome], writes: Mapping[Location, Value], state_root: bytes,
              dry_run: bool = False) -> BlockResult:
        """The result of a finished block from its validated outcomes and combined write set."""
        receipts = tuple(Receipt.from_outcome(index, outcome) for index, outcome in enumerate(outcomes))
        return cls(receipts, sorted_writes(writes), state_root, dry_run)

    @property
    def gas_used(self) -> int:
        return sum(receipt.gas_used for receipt in self.receipts)

    def to_wire(self) -> dict[str, Any]:
        return {"receipts": [receipt.to_wire() for receipt in self.receipts],
                "writes": _writes_to_wire(self.writes), "state_root": self.state_root,
                "gas_used": self.gas_used, "dry_run": self.dry_run}

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> BlockResult:
        return cls(receipts=tuple(Receipt.from_wire(r) for r in raw["receipts"]),
                   writes=_writes_from_wire(raw["writes"]), state_root=bytes(raw["state_root"]),
                   dry_run=bool(raw.get("dry_run", False)))

    def encode(self) -> bytes:
        """The canonical msgpack bytes of the result."""
        return encode(self.to_wire())

    @classmethod
    def decode(cls, data: bytes) -> BlockResult:
        return cls.from_wire(msgpack.unpackb(data, raw=False, strict_map_key=False))

    def digest(self) -> bytes:
        """SHA-256 of the canonical encoding: equal on every node that executed the block alike."""
        return hashlib.sha256(self.encode()).digest()


Attributes = tuple[tuple[bytes, bytes], ...]
Event = tuple[bytes, Attributes] | tuple[bytes, Attributes, bytes]
"""An event in a receipt: its type and its (key, value) attributes in order, and the emitter's 20-byte
address when a contract the call called emitted it (``call_contract``)."""


def events_of(raw: Any) -> tuple[Event, ...]:
    """Events from their wire form (``[type, [[key, value], ...]]`` lists, a third element the emitter)
    as tuples of bytes."""
    return tuple(_event(event) for event in raw)


def _event(raw: Any) -> Event:
    kind, attributes = bytes(raw[0]), tuple((bytes(key), bytes(value)) for key, value in raw[1])
    return (kind, attributes) if len(raw) == 2 else (kind, attributes, bytes(raw[2]))


def encode(wire: Any) -> bytes:
    """msgpack with bytes as bin and floats as float64: one encoding per value."""
    packed: bytes = msgpack.packb(wire, use_bin_type=True, use_single_float=False)
    return packed
