"""Typed message bodies: one frozen dataclass per body that crosses a socket.

Each class is tied to its schema in :mod:`wasmpool.wire.protocol` (the one
field table): :func:`wire` refuses, when the class is defined, a field the
schema does not know, a required schema field the class lacks, and an
optional one without a default. So the classes name the fields, the
schemas check them, and the two cannot drift.

- ``to_body()`` gives the msgpack-ready dict sent on the wire, exactly as
  the pool sent it before these classes existed: same keys, same order,
  optional fields left out when unset (``OMIT_NONE``).
- ``from_body(body)`` checks the body against the schema (raising
  :class:`~wasmpool.wire.errors.BadRequest`, or the op's error for an
  unknown ``op``) and builds the message; unknown fields are ignored, as
  the protocol allows later versions to add fields.

The bodies built for every call (:class:`CallRequest`, :class:`Job`,
:class:`CallResult`) write their dict out literally, and the last two read
it back field by field: they are on the pool's hot path, where a loop over
the fields would cost more than the dict. Making a frozen dataclass costs
about five times the dict it stands for (some 1.5 us for eight fields), so
``CallRequest.body(...)``, ``Job.body(...)`` and ``CallResult.body(...)``
give the body of a call's request, job and result without making the
message: the same layout, from the same place, for the code that makes one
per call (bench/pool/message_cost.py).

Composite bodies (a worker's FINAL: a result plus its cache report) are
:class:`Final` and :class:`Finals`, built from the parts above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, NamedTuple, Self, TypeVar

from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode, Op, Status

Number = int | float

_M = TypeVar("_M", bound="WireBody")


class WireBody:
    """What every message class shares: its schema, its wire fields, and the generic conversions."""

    __slots__ = ()

    SCHEMA: ClassVar[Mapping[str, p.Field]]
    FIELDS: ClassVar[tuple[str, ...]]
    OMIT_NONE: ClassVar[frozenset[str]]
    OPS: ClassVar[frozenset[Op]]

    def to_body(self) -> dict[str, Any]:
        """The wire body: every field, in order, but those of ``OMIT_NONE`` that are None."""
        omit = self.OMIT_NONE
        return {name: value for name in self.FIELDS
                if (value := getattr(self, name)) is not None or name not in omit}

    @classmethod
    def from_body(cls, body: Mapping[str, Any], request_id: bytes = b"") -> Self:
        """The message of a decoded body, checked against the schema (and its ``op``, if it has one)."""
        if not cls.OPS:
            p.check_fields(body, cls.SCHEMA, request_id)
            return cls.from_checked(body)
        op, schema = p.op_schema(body, {op: cls.SCHEMA for op in cls.OPS}, request_id)
        p.check_fields(body, schema, request_id)
        return cls(**{name: op if name == "op" else body[name] for name in cls.FIELDS if name in body})

    @classmethod
    def from_checked(cls, body: Mapping[str, Any]) -> Self:
        """The message of a body already checked (e.g. by ``decode_worker``): no check again."""
        return cls(**{name: body[name] for name in cls.FIELDS if name in body})


def wire(schema: Mapping[str, p.Field], *, omit_none: Iterable[str] = (),
         ops: Iterable[Op] = ()) -> Callable[[type[_M]], type[_M]]:
    """Tie a message dataclass to ``schema``: its fields must be the schema's (``op`` aside, for requests).

    Every required schema field is a field of the class, every field is in
    the schema, and every optional one has a default (so a checked body
    always builds its message).

    ``omit_none`` names the fields left out of the body when None;
    ``ops`` the request ``op`` values the class stands for (it then has an ``op`` field).
    """
    def tie(cls: type[_M]) -> type[_M]:
        names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        own = set(names) - {"op"} if ops else set(names)
        unknown = own - schema.keys()
        missing = {name for name, spec in schema.items() if spec.required} - own
        bare = {f.name for f in fields(cls)  # type: ignore[arg-type]
                if f.default is MISSING and f.default_factory is MISSING and f.name in schema
                and not schema[f.name].required}
        if unknown or missing or bare:
            raise TypeError(f"{cls.__name__} does not match its schema: unknown fields {sorted(unknown)}, "
                            f"missing required fields {sorted(missing)}, optional fields without a "
                            f"default {sorted(bare)}")
        omitted = frozenset(omit_none)
        if omitted - set(names):
            raise TypeError(f"{cls.__name__}: omit_none names no field {sorted(omitted - set(names))}")
        cls.SCHEMA, cls.FIELDS, cls.OMIT_NONE, cls.OPS = schema, names, omitted, frozenset(ops)
        return cls
    return tie


# --- broker -> worker ---------------------------------------------------------------------------


@wire(p.JOB_FIELDS, omit_none=("prefetched", "chunk", "after"))
@dataclass(frozen=True, slots=True, kw_only=True)
class Job(WireBody):
    """A job (broker -> worker REQUEST): one call, or with ``chunk`` a block chunk's calls in order.

    A chunk's body is its first call's job with ``chunk`` (every call's job
    body, each maybe with ``prefetched``) and ``after``: see :meth:`chunk_of`.
    """

    code_id: str
    function: str
    args: list[Number] = field(default_factory=list)
    input: bytes = b""
    context: dict[str, Any] = field(default_factory=dict)
    gas_limit: int
    timeout: float
    readonly: bool
    prefetched: list[list[Any]] | None = None
    chunk: list[dict[str, Any]] | None = None
    after: bytes | None = None

    @staticmethod
    def body(code_id: str, function: str, args: list[Number], input: bytes, context: dict[str, Any],
             gas_limit: int, timeout: float, readonly: bool) -> dict[str, Any]:
        """A single call's job body, without making the message (the broker makes one per call)."""
        return {"code_id": code_id, "function": function, "args": args, "input": input, "context": context,
                "gas_limit": gas_limit, "timeout": timeout, "readonly": readonly}

    def to_body(self) -> dict[str, Any]:
        body = self.body(self.code_id, self.function, self.args, self.input, self.context, self.gas_limit,
                         self.timeout, self.readonly)
        if self.prefetched is not None:
            body["prefetched"] = self.prefetched
        if self.chunk is not None:
            body["chunk"] = self.chunk
        if self.after is not None:
            body["after"] = self.after
        return body

    @classmethod
    def from_checked(cls, body: Mapping[str, Any]) -> Self:
        get = body.get
        return cls(code_id=body["code_id"], function=body["function"], args=get("args", []),
                   input=get("input", b""), context=get("context", {}), gas_limit=body["gas_limit"],
                   timeout=body["timeout"], readonly=body["readonly"], prefetched=get("prefetched"),
                   chunk=get("chunk"), after=get("after"))

    @classmethod
    def chunk_of(cls, jobs: list[dict[str, Any]], after: bytes | None = None) -> dict[str, Any]:
        """A chunk's REQUEST body: the first job's fields (not its ``prefetched``), ``chunk``, ``after``."""
        body = {name: value for name, value in jobs[0].items() if name != "prefetched"}
        body["chunk"] = jobs
        if after is not None:
            body["after"] = after
        return body


@wire(p.BATCH_FIELDS)
@dataclass(frozen=True, slots=True)
class JobBatch(WireBody):
    """Several jobs in one REQUEST (a worker with several free credits): [job id, packed job body] pairs."""

    jobs: list[list[bytes]]


@wire(p.CALLBACK_REPLY_FIELDS, omit_none=("version",))
@dataclass(frozen=True, slots=True)
class ReadReply(WireBody):
    """The CALLBACK_REPLY to a ``get``: the value (None when absent) and, for committed state, its version."""

    seq: int
    value: bytes | None = None
    version: int | None = None


@wire(p.CALLBACK_REPLY_FIELDS)
@dataclass(frozen=True, slots=True)
class CodeReply(WireBody):
    """The CALLBACK_REPLY to a ``code`` fetch: the module's bytes (None when the store has none)."""

    seq: int
    code: bytes | None = None


@wire(p.CALLBACK_REPLY_FIELDS)
@dataclass(frozen=True, slots=True)
class RefusedReply(WireBody):
    """A CALLBACK_REPLY that refuses the CALLBACK; the worker's call fails with StateUnavailable."""

    seq: int
    error: str = ""


@wire(p.CALLBACK_REPLY_FIELDS)
@dataclass(frozen=True, slots=True)
class ScanReply(WireBody):
    """The CALLBACK_REPLY to a ``scan``: a page of [key, value] entries in the order asked; more follow?"""

    seq: int
    entries: list[list[bytes]] = field(default_factory=list)
    more: bool = False


CallbackReply = ReadReply | CodeReply | RefusedReply | ScanReply


REPLY_KINDS: tuple[tuple[str, type[CallbackReply]], ...] = (
    ("error", RefusedReply), ("code", CodeReply), ("entries", ScanReply))
"""A CALLBACK_REPLY's kind by the first of these fields it carries; with none of them it is a read."""


def callback_reply(body: Mapping[str, Any], request_id: bytes = b"") -> CallbackReply:
    """The typed CALLBACK_REPLY of a body: a refusal, a module, or a read (by the fields it carries)."""
    p.check_fields(body, p.CALLBACK_REPLY_FIELDS, request_id)
    kind = next((kind for name, kind in REPLY_KINDS if name in body), ReadReply)
    return kind.from_checked(body)


@wire(p.BROKER_SCHEMAS[Command.HEARTBEAT], omit_none=("interval", "liveness", "max_body", "pinned", "warm"))
@dataclass(frozen=True, slots=True)
class Heartbeat(WireBody):
    """A HEARTBEAT: empty, or (the broker's answer to READY) with the numbers the worker adopts.

    ``max_body``: the largest body the broker reads from a worker, so that the
    worker sizes its results (RESULT_TOO_LARGE) by the broker's limit, not a
    default of its own.

    ``pinned``: the whole set of pinned code ids, sent with the answer to
    READY and to every worker whenever the set changes; the worker keeps
    those modules compiled outside its LRU (absent: no change).

    ``warm``: modules just deployed, which this worker is asked to load (fetch
    with a ``pin_code`` CALLBACK and compile, or read from its disk cache)
    between jobs, into its LRU, so that their first call finds them compiled.
    """

    interval: float | None = None
    liveness: int | None = None
    max_body: int | None = None
    pinned: list[str] | None = None
    warm: list[str] | None = None


@wire({})
@dataclass(frozen=True, slots=True)
class Disconnect(WireBody):
    """A DISCONNECT, either way: empty. From a worker: it leaves. From the broker: register again."""


# --- worker -> broker ---------------------------------------------------------------------------


@wire(p.CACHE_REPORT, omit_none=("hits", "misses", "cache", "tiers"))
@dataclass(frozen=True, slots=True)
class CacheReport(WireBody):
    """A worker's module-cache counters, and its cached code ids when they changed since the last report.

    ``tiers``: modules served by each tier (memory, disk, compile) and the
    disk cache's counters (``protocol.TIER_COUNTS``).
    """

    hits: int | None = None
    misses: int | None = None
    cache: list[str] | None = None
    tiers: dict[str, int] | None = None


@wire(p.WORKER_SCHEMAS[Command.READY], omit_none=("hits", "misses", "cache", "pid", "versions", "tiers"))
@dataclass(frozen=True, slots=True)
class Ready(WireBody):
    """READY: a worker registers, with its cache report, process id and credits.

    The defaults are what the broker assumes of a worker that leaves a field out.
    """

    hits: int | None = None
    misses: int | None = None
    cache: list[str] | None = None
    pid: int | None = None
    heartbeats: bool = False
    credits: int = 1
    versions: dict[str, int | str] | None = None  # what its results are decided by (worker.versions)
    tiers: dict[str, int] | None = None  # its module tiers' counters (CacheReport.tiers)

    @classmethod
    def of(cls, report: CacheReport, pid: int, credits: int, heartbeats: bool = True,
           versions: dict[str, int | str] | None = None) -> Ready:
        """A worker's READY from its cache report (a worker of today heartbeats while busy)."""
        return cls(report.hits, report.misses, report.cache, pid, heartbeats, credits, versions, report.tiers)


@wire(p.WORKER_SCHEMAS[Op.GET], omit_none=("index", "space"), ops=(Op.GET,))
@dataclass(frozen=True, slots=True)
class ReadCallback(WireBody):
    """A CALLBACK ``get``: read ``key`` of the job's contract (``index``: the call's place in a chunk).

    ``space``: read another namespace instead, a called contract's (its
    address in hex) or the contract registry's (``protocol.REGISTRY_SPACE``).
    """

    key: bytes
    seq: int
    index: int | None = None
    space: str | None = None
    op: Op = Op.GET

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": Op.GET, "key": self.key}
        if self.index is not None:
            body["index"] = self.index
        if self.space is not None:
            body["space"] = self.space
        body["seq"] = self.seq
        return body


@wire(p.WORKER_SCHEMAS[Op.CODE], omit_none=("index", "code_id"), ops=(Op.CODE,))
@dataclass(frozen=True, slots=True)
class CodeCallback(WireBody):
    """A CALLBACK ``code``: fetch the job's module (``index``: the call's place in a chunk).

    ``code_id``: fetch that module instead, a called contract's.
    """

    seq: int
    index: int | None = None
    code_id: str | None = None
    op: Op = Op.CODE

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": Op.CODE}
        if self.index is not None:
            body["index"] = self.index
        if self.code_id is not None:
            body["code_id"] = self.code_id
        body["seq"] = self.seq
        return body


@wire(p.WORKER_SCHEMAS[Op.PIN_CODE], ops=(Op.PIN_CODE,))
@dataclass(frozen=True, slots=True)
class PinCodeCallback(WireBody):
    """A CALLBACK ``pin_code``, outside any job: fetch a pinned module's bytes, to load it ahead of calls."""

    seq: int
    code_id: str
    op: Op = Op.PIN_CODE

    def to_body(self) -> dict[str, Any]:
        return {"op": Op.PIN_CODE, "code_id": self.code_id, "seq": self.seq}


@wire(p.WORKER_SCHEMAS[Op.SCAN], omit_none=("index", "space"), ops=(Op.SCAN,))
@dataclass(frozen=True, slots=True)
class ScanCallback(WireBody):
    """A CALLBACK ``scan``: up to ``limit`` entries of the job's contract in [start, end) (empty end: none).

    ``order`` 0 is ascending, 1 descending (bytewise key order); the next
    page is asked with the range narrowed past the last key received.
    ``space``: a called contract's namespace (its address in hex) instead.
    """

    start: bytes
    end: bytes
    order: int
    limit: int
    seq: int
    index: int | None = None
    space: str | None = None
    op: Op = Op.SCAN

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": Op.SCAN, "start": self.start, "end": self.end, "order": self.order,
                                "limit": self.limit}
        if self.index is not None:
            body["index"] = self.index
        if self.space is not None:
            body["space"] = self.space
        body["seq"] = self.seq
        return body


Callback = ReadCallback | CodeCallback | PinCodeCallback | ScanCallback

CALLBACKS: dict[str, type[Callback]] = {Op.GET: ReadCallback, Op.CODE: CodeCallback,
                                        Op.PIN_CODE: PinCodeCallback, Op.SCAN: ScanCallback}


def callback(body: Mapping[str, Any], request_id: bytes = b"") -> Callback:
    """The typed CALLBACK of a body, by its ``op``."""
    return _by_op(body, CALLBACKS, request_id)


def _by_op(body: Mapping[str, Any], classes: Mapping[str, type[_M]], request_id: bytes) -> _M:
    """The message of a body whose ``op`` picks its class in ``classes`` (checked against its schema)."""
    op, _ = p.op_schema(body, classes, request_id)
    return classes[op].from_body(body, request_id)


@wire(p.RESULT_FIELDS)
@dataclass(frozen=True, slots=True)
class CallResult(WireBody):
    """How one call ended: the FINAL body of a job (and, with ``attempts``, the client's reply).

    ``versions``: the versions that decided it (the worker's engine, gas and
    abi; the broker adds its float policy, ``floats``); left out when None.

    ``nested_writes``: the writes of the contracts it called
    (``call_contract``) in their own namespaces, ``[address hex, key, value
    or None]``; committed with ``writes`` in one transaction. Left out when empty.

    ``ahead``: which of the job's ``prefetched`` reads the call read (their
    indexes), for the broker's read set; it never reaches a client. Left
    out when empty.
    """

    status: Status
    code: int
    results: list[Number] = field(default_factory=list)
    output: bytes = b""
    gas_used: int = 0
    logs: list[bytes] = field(default_factory=list)
    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    error: str | None = None
    versions: dict[str, int | str] | None = None

    events: list[Any] = field(default_factory=list)  # [type, [[key, value], ...]], all bytes (WireEvent)
    nested_writes: list[list[Any]] = field(default_factory=list)  # [address hex, key, value or None]
    ahead: list[int] = field(default_factory=list)  # indexes of the job's prefetched reads it read

    @staticmethod
    def body(status: Status, code: int, results: list[Number], output: bytes, gas_used: int,
             logs: list[bytes], writes: dict[bytes, bytes | None], error: str | None,
             versions: dict[str, int | str] | None = None, events: list[Any] | None = None,
             nested_writes: list[list[Any]] | None = None, ahead: list[int] | None = None
             ) -> dict[str, Any]:
        """A result's body, without making the message (a worker makes one per call); no events,
        nested writes or prefetched reads read: left out."""
        body = {"status": status, "code": code, "results": results, "output": output, "gas_used": gas_used,
                "logs": logs, "writes": writes, "error": error}
        if versions is not None:
            body["versions"] = versions
        if events:
            body["events"] = events
        if nested_writes:
            body["nested_writes"] = nested_writes
        if ahead:
            body["ahead"] = ahead
        return body

    def to_body(self) -> dict[str, Any]:
        return self.body(self.status, self.code, self.results, self.output, self.gas_used, self.logs,
                         self.writes, self.error, self.versions, self.events, self.nested_writes, self.ahead)

    @classmethod
    def from_checked(cls, body: Mapping[str, Any]) -> Self:
        get = body.get
        return cls(body["status"], body["code"], get("results", []), get("output", b""), get("gas_used", 0),
                   get("logs", []), get("writes", {}), get("error"), get("versions"), get("events", []),
                   get("nested_writes", []), get("ahead", []))

    @classmethod
    def failed(cls, code: ErrorCode, message: str, gas_used: int = 0, logs: list[bytes] | None = None,
               versions: dict[str, int | str] | None = None) -> CallResult:
        """A result that commits nothing, with ``code``'s status, ``message`` and the run's ``versions``."""
        return cls(p.status_for(code), int(code), gas_used=gas_used, logs=[] if logs is None else logs,
                   error=message, versions=versions)


@wire(p.CHUNK_RESULT_FIELDS)
@dataclass(frozen=True, slots=True)
class ChunkCallResult(WireBody):
    """One call's result in a chunk's FINAL: a :class:`CallResult` and where each of its reads came from."""

    status: Status
    code: int
    reads: list[list[Any]]
    results: list[Number] = field(default_factory=list)
    output: bytes = b""
    gas_used: int = 0
    logs: list[bytes] = field(default_factory=list)
    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    error: str | None = None
    versions: dict[str, int | str] | None = None
    events: list[Any] = field(default_factory=list)
    nested_writes: list[list[Any]] = field(default_factory=list)

    def to_body(self) -> dict[str, Any]:
        body = CallResult.body(self.status, self.code, self.results, self.output, self.gas_used, self.logs,
                               self.writes, self.error, self.versions, self.events, self.nested_writes)
        body["reads"] = self.reads
        return body

    @classmethod
    def of(cls, result: CallResult, reads: list[list[Any]]) -> ChunkCallResult:
        return cls(result.status, result.code, reads, result.results, result.output, result.gas_used,
                   result.logs, result.writes, result.error, result.versions, result.events,
                   result.nested_writes)

    def result(self) -> CallResult:
        return CallResult(self.status, self.code, self.results, self.output, self.gas_used, self.logs,
                          self.writes, self.error, self.versions, self.events, self.nested_writes)


@wire(p.WORKER_SCHEMAS[Command.FINAL])
@dataclass(frozen=True, slots=True)
class ChunkFinal(WireBody):
    """The result part of a chunk's FINAL: status ok and each call's :class:`ChunkCallResult` body."""

    chunk: list[dict[str, Any]] = field(default_factory=list)
    status: Status = Status.OK
    code: int = ErrorCode.OK

    def to_body(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "chunk": self.chunk}


@dataclass(frozen=True, slots=True)
class Final:
    """A worker's FINAL for one job: its result (a call's, or a chunk's), its cache report, ``leaving``."""

    result: CallResult | ChunkFinal
    report: CacheReport
    leaving: bool = False

    def to_body(self) -> dict[str, Any]:
        body = {**self.result.to_body(), **self.report.to_body()}
        if self.leaving:
            body["leaving"] = True
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any], request_id: bytes = b"") -> Final:
        p.check_fields(body, p.WORKER_SCHEMAS[Command.FINAL], request_id)
        if "chunk" in body:
            result: CallResult | ChunkFinal = ChunkFinal(body["chunk"], body["status"], body["code"])
        else:
            result = CallResult.from_checked(body)
        return cls(result, CacheReport.from_checked(body), body.get("leaving", False))


@dataclass(frozen=True, slots=True)
class Finals:
    """A FINAL with several consecutive jobs' results ([job id, result body]), in the order they ran."""

    finals: list[list[Any]]
    report: CacheReport
    leaving: bool = False

    def to_body(self) -> dict[str, Any]:
        body = {"finals": self.finals, **self.report.to_body()}
        if self.leaving:
            body["leaving"] = True
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any], request_id: bytes = b"") -> Finals:
        p.check_fields(body, p.FINALS_FIELDS, request_id)
        return cls(body["finals"], CacheReport.from_checked(body), body.get("leaving", False))


# --- result sizes -------------------------------------------------------------------------------

RESULT_ROOM = 64 * 1024
"""Bytes of a FINAL body kept for what travels beside its results (a quarter of ``max_body`` at most).

The cache report (its code ids, when they changed), the ``leaving`` flag
and, in a FINAL of several results, their job ids: a result may use the
rest, so a FINAL built from fitting results is one the broker accepts.
"""

FIELDS_BYTES = 128
"""A bound on a result body's bytes besides its variable parts: keys, status, code, gas, headers."""


class Footprint(NamedTuple):
    """A bound on what a result's body costs the broker's decoder: bytes, objects, longest container."""

    size: int = 0
    objects: int = 0
    longest: int = 0

    def plus(self, other: Footprint) -> Footprint:
        """What two results cost together."""
        return Footprint(self.size + other.size, self.objects + other.objects,
                         max(self.longest, other.longest))


def footprint(result: CallResult, reads: list[list[Any]] | None = None) -> Footprint:
    """A bound on the encoded size of ``result``'s body (with a chunk call's ``reads``), without encoding it.

    Counted as msgpack writes it, with every header at its largest (5 bytes
    a bin, 9 a number): an upper bound that never says a result fits when it
    does not, at most a few bytes an item above the real size.
    """
    logs, writes, error = result.logs, result.writes, result.error
    size = FIELDS_BYTES + 9 * len(result.results) + 5 + len(result.output)
    if logs:  # every header counted at 5 bytes: the bound stays cheap to take on every result
        size += 5 * len(logs) + sum(map(len, logs))
    if writes:
        size += (10 * len(writes) + sum(map(len, writes))
                 + sum(len(value) for value in writes.values() if value is not None))
    if error is not None:
        size += 5 + len(error.encode("utf-8", "surrogatepass"))
    objects = 4 + len(result.results) + len(logs) + 2 * len(writes) + 2 * 8
    longest = max(len(result.results), len(logs), len(writes))
    nested = result.nested_writes
    if nested:  # each: a 3-list of a 40-character address, a key and a value (headers at 5 bytes)
        size += 10 + sum(61 + len(key) + (0 if value is None else len(value)) for _, key, value in nested)
        objects += 1 + 4 * len(nested)
        longest = max(longest, len(nested))
    events = result.events
    if events:  # each event: a 2-list (3 with its emitter), its type, a list of 2-lists of key and value
        size += 10
        for event in events:
            kind, attributes = event[0], event[1]
            size += 41 + len(kind) + sum(11 + len(key) + len(value) for key, value in attributes)
            objects += 3 + 3 * len(attributes)
            longest = max(longest, len(attributes))
        objects += 1
        longest = max(longest, len(events))
    if result.versions:  # names and values are at most 32 bytes (protocol.is_versions)
        size += 10 + 2 * 34 * len(result.versions)
        objects += 1 + 2 * len(result.versions)
    if reads is not None:  # [key, writer] or [key, writer, space] (a space is at most 64 characters)
        size += 5 + sum(len(read[0]) + 15 + 70 * (len(read) - 2) for read in reads)
        objects += 1 + 4 * len(reads)
        longest = max(longest, len(reads))
    return Footprint(size, objects, longest)


def result_room(limits: p.ProtocolLimits) -> Footprint:
    """What the results of one FINAL may use of the broker's ``limits`` on a worker's message."""
    room = min(RESULT_ROOM, limits.max_body // 4)
    return Footprint(limits.max_body - room, limits.max_objects - 1024,
                     min(limits.max_array_len, limits.max_map_len))


DEFAULT_ROOM = result_room(p.DEFAULT_LIMITS)


def fits(used: Footprint, room: Footprint) -> bool:
    """Whether results costing ``used`` fit in ``room`` (:func:`result_room`)."""
    return used.size <= room.size and used.objects <= room.objects and used.longest <= room.longest


def fitting(result: CallResult, room: Footprint, reads: list[list[Any]] | None = None) -> CallResult:
    """``result`` if its body fits in ``room`` (:func:`result_room`); else a RESULT_TOO_LARGE result.

    The replacement commits nothing, keeps the gas the call used and the
    versions it ran by, and says
    how large the result was against the limit: a result the broker would
    refuse would leave the call (and the calls prefetched behind it) unanswered.
    A call that failed anyway keeps its code and loses its logs (all a
    failure carries besides its message). Events count like logs.
    """
    used = footprint(result, reads)
    if fits(used, room):
        return result
    if result.status != Status.OK and result.code != ErrorCode.RESULT_TOO_LARGE:  # it failed anyway
        why = f"{result.error} (its logs were too large to return)"
        return CallResult.failed(ErrorCode(result.code), why, result.gas_used, versions=result.versions)
    message = (f"the call's result is too large to return: about {used.size} bytes "
               f"(output {len(result.output)}, {len(result.logs)} logs, {len(result.events)} events, "
               f"{len(result.writes)} writes), "
               f"over the limit of {room.size} bytes")
    if used.size <= room.size:
        message = (f"the call's result is too large to return: {used.objects} objects, "
                   f"over the limit of {room.objects} (or a list over {room.longest} entries)")
    return CallResult.failed(ErrorCode.RESULT_TOO_LARGE, message, result.gas_used, versions=result.versions)


# --- client -> broker ---------------------------------------------------------------------------


@wire(p.CLIENT_SCHEMAS[Op.DEPLOY], ops=(Op.DEPLOY,))
@dataclass(frozen=True, slots=True)
class DeployRequest(WireBody):
    """Deploy a module, paying at most ``gas_limit`` (None: ``prices.DEFAULT_DEPLOY_GAS_LIMIT``)."""

    code: bytes
    gas_limit: int | None = None
    op: Op = Op.DEPLOY

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": Op.DEPLOY, "code": self.code}
        if self.gas_limit is not None:
            body["gas_limit"] = self.gas_limit
        return body


@wire(p.CLIENT_SCHEMAS[Op.CALL], omit_none=("input", "context", "gas_limit", "timeout", "access"),
      ops=(Op.CALL, Op.QUERY))
@dataclass(frozen=True, slots=True)
class CallRequest(WireBody):
    """A call (its writes commit when ok) or a query (read-only); optional fields are sent only when set."""

    op: Op
    code_id: str
    function: str
    args: list[Number] = field(default_factory=list)
    input: bytes | None = None
    context: dict[str, Any] | None = None
    gas_limit: int | None = None
    timeout: float | None = None
    access: list[bytes] | None = None

    @staticmethod
    def body(op: Op, code_id: str, function: str, args: list[Number], input: bytes | None = None,
             context: dict[str, Any] | None = None, gas_limit: int | None = None,
             timeout: float | None = None, access: list[bytes] | None = None) -> dict[str, Any]:
        """A call's REQUEST body, without making the message (a client makes one per call)."""
        body: dict[str, Any] = {"op": op, "code_id": code_id, "function": function, "args": args}
        if access:
            body["access"] = access
        if input is not None:
            body["input"] = input
        if context is not None:
            body["context"] = context
        if gas_limit is not None:
            body["gas_limit"] = gas_limit
        if timeout is not None:
            body["timeout"] = timeout
        return body

    def to_body(self) -> dict[str, Any]:
        return self.body(self.op, self.code_id, self.function, self.args, self.input, self.context,
                         self.gas_limit, self.timeout, self.access)


@wire(p.CLIENT_SCHEMAS[Op.STATS], ops=(Op.STATS,))
@dataclass(frozen=True, slots=True)
class StatsRequest(WireBody):
    """Ask for the pool's statistics."""

    op: Op = Op.STATS


@wire(p.CLIENT_SCHEMAS[Op.STATE_GET], ops=(Op.STATE_GET,))
@dataclass(frozen=True, slots=True)
class StateGetRequest(WireBody):
    """Read a contract's committed value for a key."""

    code_id: str
    key: bytes
    op: Op = Op.STATE_GET

    def to_body(self) -> dict[str, Any]:
        return {"op": Op.STATE_GET, "code_id": self.code_id, "key": self.key}


@wire(p.CLIENT_SCHEMAS[Op.BLOCK], omit_none=("state_root", "timeout"), ops=(Op.BLOCK,))
@dataclass(frozen=True, slots=True)
class BlockRequest(WireBody):
    """An ordered block of calls (their wire maps); ``dry_run`` commits nothing."""

    calls: list[dict[str, Any]]
    dry_run: bool = False
    state_root: bytes | None = None
    timeout: float | None = None
    op: Op = Op.BLOCK

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": Op.BLOCK, "calls": self.calls, "dry_run": self.dry_run}
        if self.state_root is not None:
            body["state_root"] = self.state_root
        if self.timeout is not None:
            body["timeout"] = self.timeout
        return body


@wire(p.CLIENT_SCHEMAS[Op.PIN], ops=(Op.PIN, Op.UNPIN))
@dataclass(frozen=True, slots=True)
class PinRequest(WireBody):
    """Pin a deployed module on every worker (``pin``), or let it fall back into their LRUs (``unpin``)."""

    op: Op
    code_id: str

    def to_body(self) -> dict[str, Any]:
        return {"op": self.op, "code_id": self.code_id}


@wire(p.CLIENT_SCHEMAS[Op.INSTANTIATE], omit_none=("admin", "gas_limit", "timeout"), ops=(Op.INSTANTIATE,))
@dataclass(frozen=True, slots=True)
class InstantiateRequest(WireBody):
    """Create a contract of ``code_id`` at the address derived from ``caller``, the code and ``salt``."""

    code_id: str
    input: bytes = b""
    salt: bytes = b""
    admin: bytes | None = None
    caller: bytes = b""
    gas_limit: int | None = None
    timeout: float | None = None
    op: Op = Op.INSTANTIATE


@wire(p.CLIENT_SCHEMAS[Op.MIGRATE], omit_none=("gas_limit", "timeout"), ops=(Op.MIGRATE,))
@dataclass(frozen=True, slots=True)
class MigrateRequest(WireBody):
    """Switch the contract at ``address`` to ``code_id``, keeping its state (its admin, as ``caller``)."""

    address: str
    code_id: str
    input: bytes = b""
    caller: bytes = b""
    gas_limit: int | None = None
    timeout: float | None = None
    op: Op = Op.MIGRATE


@wire(p.CLIENT_SCHEMAS[Op.CONTRACT_INFO], ops=(Op.CONTRACT_INFO,))
@dataclass(frozen=True, slots=True)
class ContractInfoRequest(WireBody):
    """A contract's record and code history."""

    address: str
    op: Op = Op.CONTRACT_INFO

    def to_body(self) -> dict[str, Any]:
        return {"op": Op.CONTRACT_INFO, "address": self.address}


ClientRequest = (DeployRequest | CallRequest | StatsRequest | StateGetRequest | BlockRequest | PinRequest
                 | InstantiateRequest | MigrateRequest | ContractInfoRequest)

REQUESTS: dict[str, type[ClientRequest]] = {
    Op.DEPLOY: DeployRequest, Op.CALL: CallRequest, Op.QUERY: CallRequest, Op.STATS: StatsRequest,
    Op.STATE_GET: StateGetRequest, Op.BLOCK: BlockRequest, Op.PIN: PinRequest, Op.UNPIN: PinRequest,
    Op.INSTANTIATE: InstantiateRequest, Op.MIGRATE: MigrateRequest, Op.CONTRACT_INFO: ContractInfoRequest,
}


def client_request(body: Mapping[str, Any], request_id: bytes = b"") -> ClientRequest:
    """The typed client REQUEST of a body, by its ``op``."""
    return _by_op(body, REQUESTS, request_id)


# --- broker -> client ---------------------------------------------------------------------------


@wire(p.DEPLOY_REPLY_FIELDS, omit_none=("gas_used",))
@dataclass(frozen=True, slots=True)
class DeployReply(WireBody):
    """The FINAL of a deploy: the module's code id and the gas the deploy cost."""

    code_id: str
    gas_used: int | None = None


@wire(p.CONTRACT_INFO_FIELDS)
@dataclass(frozen=True, slots=True)
class ContractInfo(WireBody):
    """The FINAL of a contract_info: the code it runs, its admin, creator, salt and code history."""

    address: str
    code_id: str
    admin: bytes | None
    creator: bytes
    salt: bytes
    history: list[dict[str, Any]]


@wire(p.PIN_REPLY_FIELDS)
@dataclass(frozen=True, slots=True)
class PinReply(WireBody):
    """The FINAL of a pin or unpin: whether the module is pinned now, and whether the request changed that."""

    code_id: str
    pinned: bool
    changed: bool


@wire(p.STATE_REPLY_FIELDS)
@dataclass(frozen=True, slots=True)
class StateReply(WireBody):
    """The FINAL of a state_get: the value (None when absent) and its version."""

    value: bytes | None = None
    version: int = 0


@wire(p.ERROR_FIELDS, omit_none=("limit", "value", "maximum", "where", "instruction", "offset"))
@dataclass(frozen=True, slots=True)
class ErrorReply(WireBody):
    """An ERROR: the code, a message for people, and the operator ceiling a request went above, if any.

    A typed deploy refusal also says which figure broke which limit where
    (``value``, ``maximum``, ``where``), or which float instruction
    (``where``, ``instruction``, ``offset``): see ``wasmpool.wire.errors``.
    """

    code: int = ErrorCode.INTERNAL
    message: str = "error"
    limit: str | None = None
    value: int | None = None
    maximum: int | None = None
    where: str | None = None
    instruction: str | None = None
    offset: int | None = None

    def to_body(self) -> dict[str, Any]:
        details = {name: value for name in ("value", "maximum", "where", "instruction", "offset")
                   if (value := getattr(self, name)) is not None}
        return p.error_body(self.code, self.message, self.limit or "", details)

    def error(self) -> errors.PoolError:
        """The typed exception a client raises for this ERROR."""
        return p.error_for(self.code, self.message, self.limit, self.value, self.maximum, self.where,
                           self.instruction, self.offset)
