"""The wasmpool wire protocol: frames, commands, bodies, limits and error codes.

Modelled on ZeroMQ's Majordomo protocol (MDP/0.2, rfc.zeromq.org spec 18).
Clients talk to the broker's frontend ROUTER, workers to its backend ROUTER
over DEALER sockets. After the ROUTER's identity frame every message is
exactly four frames::

    [tag] [command] [request id] [body]

- ``tag``: the protocol and its version, :data:`CLIENT_TAG` (``WPC01``) on the
  frontend, :data:`WORKER_TAG` (``WPW01``) on the backend; a peer on the
  wrong socket is refused at the first frame.
- ``command``: one byte, a :class:`Command`.
- ``request id``: 1..32 opaque bytes chosen by the sender of a REQUEST; every
  message about that request carries it back (workers see the broker's job
  id instead of the client's).
- ``body``: one msgpack map, decoded under :class:`ProtocolLimits`: byte,
  string, array and map sizes are capped inside msgpack itself, so is the
  total number of objects (:class:`ObjectBudget`: decoding stops as soon as
  it passes ``max_objects``), nesting depth is checked after decoding, and
  ext types are refused.

Each body is then checked against a schema (:data:`CLIENT_SCHEMAS`,
:data:`WORKER_SCHEMAS`): required fields, types and ranges. Anything that
fails raises a :class:`~wasmpool.wire.errors.ProtocolError` carrying the request id
when it could be read, so the broker can answer with an ERROR frame.

Errors travel as codes: :func:`error_code` is the one place where an
exception becomes an :class:`ErrorCode`, by a table: :data:`ERROR_CODES`
holds the pool's own errors, and the worker extends it with the engine's
(``wasmpool.worker.codes``), so the wire never loads the engine.
:data:`STATUS_BY_CODE` turns a code into the ``status`` of a call result.
Typed message bodies are in :mod:`wasmpool.wire.messages`. See
docs/protocol.md for the full description.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, TypeVar

import msgpack
import zmq

from wasmpool.wire import errors

CLIENT_TAG = b"WPC01"
WORKER_TAG = b"WPW01"
FRAME_COUNT = 4
MAX_REQUEST_ID = 32
I64_MIN = -(2**63)
U64_MAX = 2**64 - 1


class Command(IntEnum):
    """The one-byte command frame."""

    READY = 1  # worker -> broker: register with its credits (default one); carries the cache report
    REQUEST = 2  # client -> broker: a request; broker -> worker: a job
    CALLBACK = 3  # worker -> broker: a state read or a code fetch during a job
    CALLBACK_REPLY = 4  # broker -> worker: the answer to a CALLBACK
    FINAL = 5  # worker -> broker: a job's result, and the credit back; broker -> client: the reply
    HEARTBEAT = 6  # worker <-> broker: liveness (any frame counts; see broker.liveness)
    DISCONNECT = 7  # either way: forget me / register again
    ERROR = 8  # broker -> client: the request cannot be served


class Op(StrEnum):
    """The ``op`` field of client REQUESTs and worker CALLBACKs."""

    DEPLOY = "deploy"
    CALL = "call"
    QUERY = "query"
    STATS = "stats"
    STATE_GET = "state_get"
    GET = "get"  # CALLBACK: read one key of the job's contract
    CODE = "code"  # CALLBACK: fetch the job's module bytes
    BLOCK = "block"  # an ordered block of calls, executed in parallel as if serially (Block-STM)
    PIN = "pin"  # keep a module compiled in memory on every worker (durable; an operator request)
    UNPIN = "unpin"  # let a pinned module fall back into the workers' LRU caches
    PIN_CODE = "pin_code"  # CALLBACK outside any job: fetch a pinned module's bytes to load it
    SCAN = "scan"  # CALLBACK: one page of the job's contract's entries in a key range, in key order
    INSTANTIATE = "instantiate"  # create a contract instance of a code at a derived address
    MIGRATE = "migrate"  # switch a contract to new code, keeping its state (its admin only)
    CONTRACT_INFO = "contract_info"  # a contract's code id, admin, creator, salt and code history


class Status(StrEnum):
    """How a contract call ended (``Result.status``)."""

    OK = "ok"
    TRAP = "trap"
    OUT_OF_GAS = "out_of_gas"
    REVERTED = "reverted"
    TIMEOUT = "timeout"
    ERROR = "error"


class ErrorCode(IntEnum):
    """Wire error codes: ERROR replies (1..19) and call outcomes (20..)."""

    OK = 0
    BAD_FRAME = 1
    BAD_BODY = 2
    TOO_LARGE = 3
    UNKNOWN_COMMAND = 4
    BAD_REQUEST = 5
    INVALID_MODULE = 6
    UNKNOWN_CODE = 7
    BUSY = 8
    TIMEOUT = 9
    CONFLICT = 10
    INTERNAL = 11
    UNKNOWN_CONTRACT = 12  # no contract instance at this address
    CONTRACT_EXISTS = 13  # an instantiate would create a contract at an address already taken
    NOT_ADMIN = 14  # a migrate by anyone but the contract's admin (or of a contract without one)
    STATE_ROOT_MISMATCH = 17  # a block's expected pre-state root is not the current one
    BLOCK_FAILED = 18  # a block could not finish (lost workers, time limits); nothing committed
    STORAGE = 19  # the state store failed to write (disk full, I/O error); nothing committed, retry
    TRAP = 20
    OUT_OF_GAS = 21
    REVERTED = 22
    READ_ONLY = 23
    BAD_CALL = 24
    LINK_ERROR = 25
    STATE_UNAVAILABLE = 26
    WORKER_LOST = 27  # the poison-pill cap: the job lost its worker too many times
    RESULT_TOO_LARGE = 28  # the call's result (output, logs, writes) would not fit in a worker's FINAL


@dataclass(frozen=True, slots=True)
class ProtocolLimits:
    """Explicit bounds on every decoded body (msgpack's own ``max_*`` limits plus depth)."""

    max_body: int = 16 * 1024 * 1024
    max_bin_len: int = 16 * 1024 * 1024
    max_str_len: int = 1024 * 1024
    max_array_len: int = 100_000
    max_map_len: int = 100_000
    max_depth: int = 8
    max_objects: int = 262_144  # containers and their elements, all levels together (ObjectBudget)


DEFAULT_LIMITS = ProtocolLimits()


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message (without the ROUTER identity)."""

    command: Command
    request_id: bytes
    body: dict[str, Any]


# --- bodies -----------------------------------------------------------------


def pack(body: Mapping[str, Any]) -> bytes:
    """Encode a body as msgpack (bytes stay bin, str stays str)."""
    data: bytes = msgpack.packb(body, use_bin_type=True)
    return data


def with_entry(packed: bytes, name: str, value: Any) -> bytes:
    """A packed map (from :func:`pack`) with one more entry, ``name: value``, appended without unpacking it.

    ``name`` must not be a key of the map already. The broker adds reads
    answered ahead to a job's packed body this way when it dispatches it:
    the body may carry a large input, which is then copied once, not decoded
    and encoded again.
    """
    first = packed[0]
    if 0x80 <= first <= 0x8E:  # fixmap of up to 14 entries
        header, rest = bytes((first + 1,)), packed[1:]
    elif first == 0x8F:  # fixmap of 15: now a map 16
        header, rest = b"\xde\x00\x10", packed[1:]
    elif first == 0xDE:
        count = int.from_bytes(packed[1:3], "big") + 1
        header = b"\xde" + count.to_bytes(2, "big") if count <= 0xFFFF else b"\xdf" + count.to_bytes(4, "big")
        rest = packed[3:]
    elif first == 0xDF:
        header, rest = b"\xdf" + (int.from_bytes(packed[1:5], "big") + 1).to_bytes(4, "big"), packed[5:]
    else:
        raise ValueError("not a packed msgpack map")
    entry: bytes = msgpack.packb(name, use_bin_type=True) + msgpack.packb(value, use_bin_type=True)
    return header + rest + entry


def unpack(data: bytes, limits: ProtocolLimits = DEFAULT_LIMITS, request_id: bytes = b"") -> dict[str, Any]:
    """Decode a body under ``limits``; raises BadBody or MessageTooLarge."""
    if len(data) > limits.max_body:
        raise errors.MessageTooLarge(f"body of {len(data)} bytes exceeds {limits.max_body}", request_id)
    budget = ObjectBudget(limits.max_objects)
    try:
        body = msgpack.unpackb(
            data, raw=False, strict_map_key=True, max_ext_len=0, max_bin_len=limits.max_bin_len,
            max_str_len=limits.max_str_len, max_array_len=limits.max_array_len,
            max_map_len=limits.max_map_len, list_hook=budget.array, object_hook=budget.map,
        )
    except BudgetExceeded as exc:
        raise errors.MessageTooLarge(str(exc), request_id) from None
    except Exception as exc:  # untrusted bytes: any failure is the body's fault
        raise errors.BadBody(f"body is not valid msgpack within limits: {exc or type(exc).__name__}",
                             request_id) from exc
    if not isinstance(body, dict):
        raise errors.BadBody(f"body must be a msgpack map, not {type(body).__name__}", request_id)
    _check_depth(body, limits.max_depth, request_id)
    return body


class BudgetExceeded(Exception):
    """A body holds more objects than its budget (raised from inside msgpack, to stop it)."""


class ObjectBudget:
    """Counts what msgpack builds, container by container, and stops it past ``limit`` objects.

    msgpack caps each container's length, not their total: 16 MiB of nested
    empty arrays, every one within the caps, decodes into some 16 million
    lists (over a gigabyte, and seconds of work). msgpack calls these hooks
    as each array or map is finished; every container counts one plus its
    elements, so the count passes ``limit`` before much more than ``limit``
    objects were ever built, and the error stops the decoding there.
    """

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def array(self, items: list[Any]) -> list[Any]:
        self._take(len(items) + 1)
        return items

    def map(self, items: dict[Any, Any]) -> dict[Any, Any]:
        self._take(2 * len(items) + 1)
        return items

    def _take(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise BudgetExceeded(f"body holds more than {self.limit} objects (max_objects)")


def _check_depth(body: object, max_depth: int, request_id: bytes) -> None:
    """Refuse containers nested deeper than ``max_depth``, one level at a time (no recursion)."""
    level: list[Any] = [body]
    for _ in range(max_depth):
        level = [c for item in level for c in (item.values() if type(item) is dict else item)
                 if type(c) is dict or type(c) is list]
        if not level:
            return
    raise errors.BadBody(f"body nests deeper than {max_depth} levels", request_id)


# --- frames -----------------------------------------------------------------


def encode(tag: bytes, command: Command, request_id: bytes, body: Mapping[str, Any]) -> list[bytes]:
    """The four frames of one message."""
    return [tag, bytes((command,)), request_id, pack(body)]


def error_body(code: int, message: str, limit: str = "",
               details: Mapping[str, str | int] | None = None) -> dict[str, Any]:
    """An ERROR body (:class:`~wasmpool.wire.messages.ErrorReply`); ``limit`` only when there is one.

    ``details`` are a typed error's own fields (``PoolError.details``: a deploy
    refusal's ``value``, ``maximum``, ``where``, ``instruction``, ``offset``).
    """
    body: dict[str, Any] = {"code": int(code), "message": message}
    if limit:
        body["limit"] = limit
    if details:
        body.update(details)
    return body


def error_frames(request_id: bytes, code: ErrorCode, message: str, limit: str = "",
                 details: Mapping[str, str | int] | None = None) -> list[bytes]:
    """An ERROR reply for the frontend; ``limit`` names the operator ceiling a request went above."""
    return encode(CLIENT_TAG, Command.ERROR, request_id, error_body(code, message, limit, details))


def decode(frames: Sequence[bytes], tag: bytes, allowed: frozenset[Command],
           limits: ProtocolLimits = DEFAULT_LIMITS) -> Message:
    """Parse and check four frames; raises a ProtocolError subclass on any fault."""
    if len(frames) != FRAME_COUNT:
        raise errors.BadFrame(f"expected {FRAME_COUNT} frames, got {len(frames)}", guess_request_id(frames))
    raw_tag, raw_command, request_id, data = frames
    if raw_tag != tag:
        shown = bytes(raw_tag)[:16]
        raise errors.BadFrame(f"protocol tag {shown!r} is not {tag!r}", guess_request_id(frames))
    if not 0 < len(request_id) <= MAX_REQUEST_ID:
        raise errors.BadFrame(f"request id must be 1..{MAX_REQUEST_ID} bytes, got {len(request_id)}")
    command = _command(raw_command, allowed, request_id)
    return Message(command, bytes(request_id), unpack(data, limits, request_id))


COMMANDS: dict[bytes, Command] = {bytes((c,)): c for c in Command}


def _command(raw: bytes, allowed: frozenset[Command], request_id: bytes) -> Command:
    """The command byte, if it is one of ``allowed``."""
    command = COMMANDS.get(bytes(raw))
    if command is None:
        raise errors.UnknownCommand(f"unknown command frame {bytes(raw)[:8]!r}", request_id)
    if command not in allowed:
        raise errors.UnknownCommand(f"command {command.name} is not accepted here", request_id)
    return command


def guess_request_id(frames: Sequence[bytes]) -> bytes:
    """The third frame if it looks like a request id, so an ERROR can name the request."""
    if len(frames) >= 3 and 0 < len(frames[2]) <= MAX_REQUEST_ID:
        return bytes(frames[2])
    return b""


NOBLOCK = int(zmq.NOBLOCK)  # plain ints: pyzmq's enum flags cost an enum operation per frame
SEND_MORE = NOBLOCK | int(zmq.SNDMORE)


_send: Callable[[zmq.Socket[Any], bytes, int], Any] = zmq.backend.Socket.send
"""libzmq's send itself: pyzmq's Socket.send adds Python-level options we never use, on every frame."""
_get: Callable[[zmq.Socket[Any], int], Any] = zmq.backend.Socket.get
"""libzmq's getsockopt itself: pyzmq's Socket.getsockopt adds option handling, about half its cost."""
_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)


def waiting(sock: zmq.Socket[Any]) -> bool:
    """Whether a whole message waits on ``sock`` (``EVENTS``): cheaper than a receive that fails.

    A failed non-blocking receive raises ``zmq.Again``, an exception object
    pyzmq builds in Python (5-7 µs); asking costs about 2 µs. ZeroMQ's
    descriptor is edge-triggered, so a loop asks before it sleeps too.
    """
    return bool(_get(sock, _EVENTS) & _POLLIN)


def send_frames(sock: zmq.Socket[Any], identity: bytes | None, frames: Sequence[bytes]) -> None:
    """Send one message without blocking: the ROUTER identity (if any), then ``frames``."""
    if identity is not None:
        _send(sock, identity, SEND_MORE)
    for frame in frames[:-1]:
        _send(sock, frame, SEND_MORE)
    _send(sock, frames[-1], NOBLOCK)


def receive_all(sock: zmq.Socket[Any]) -> list[bytes]:
    """One whole message without blocking (raises zmq.Again when none waits).

    Zero-copy frames tell whether more follow (``Frame.more``), which saves
    a ``RCVMORE`` query per frame on the hot path.
    """
    frame = sock.recv(NOBLOCK, copy=False)
    frames = [frame.bytes]
    while frame.more:
        frame = sock.recv(NOBLOCK, copy=False)
        frames.append(frame.bytes)
    return frames


def receive_authenticated(sock: zmq.Socket[Any]) -> tuple[list[bytes], bytes]:
    """:func:`receive_all`, plus the sender's ZAP ``User-Id`` (with CURVE: its Z85 public key).

    The ZAP handler names every CURVE peer it admits; libzmq attaches that
    name to each message, so the broker knows which key sent it whatever
    the sender claims in its frames.
    """
    frame = sock.recv(NOBLOCK, copy=False)
    user = frame.get("User-Id")
    frames = [frame.bytes]
    while frame.more:
        frame = sock.recv(NOBLOCK, copy=False)
        frames.append(frame.bytes)
    return frames, user.encode() if isinstance(user, str) else bytes(user)


# --- schemas ----------------------------------------------------------------

Check = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Field:
    """One body field: how to check it, whether it must be present, what it is."""

    check: Check
    what: str
    required: bool = False


def is_int(v: Any) -> bool:
    return type(v) is int and I64_MIN <= v <= U64_MAX


def is_count(v: Any) -> bool:
    return type(v) is int and 0 <= v <= U64_MAX


def is_number(v: Any) -> bool:
    return is_int(v) or type(v) is float


def is_positive(v: Any) -> bool:
    return is_number(v) and v > 0


def is_bytes(v: Any) -> bool:
    return type(v) is bytes


def is_str(v: Any) -> bool:
    return type(v) is str


def is_bool(v: Any) -> bool:
    return type(v) is bool


def is_code_id(v: Any) -> bool:
    """A hex sha256, as :func:`code_id` makes it."""
    return type(v) is str and len(v) == 64 and not v.strip("0123456789abcdef")


ADDRESS_SIZE = 20
"""A contract address: 20 bytes (shown as 40 lowercase hex characters)."""


def is_address(v: Any) -> bool:
    """A contract address in hex: 40 lowercase hex characters."""
    return type(v) is str and len(v) == 2 * ADDRESS_SIZE and not v.strip("0123456789abcdef")


def is_target(v: Any) -> bool:
    """What a call names: a code id (a legacy call, the code's own namespace) or a contract address."""
    return is_code_id(v) or is_address(v)


def is_address_bytes(v: Any) -> bool:
    return type(v) is bytes and len(v) == ADDRESS_SIZE


REGISTRY_SPACE = "wasmpool/contracts"
"""The reserved state namespace of contract records (key: the 20 address bytes; value: the packed
record, a map with at least ``code_id``): read by a worker to find the code of a contract it calls."""


def is_space(v: Any) -> bool:
    """A state namespace a worker may name in a CALLBACK: a contract's (40 hex) or the registry's."""
    return is_address(v) or v == REGISTRY_SPACE


def is_located_write(v: Any) -> bool:
    """A write in another contract's namespace: ``[space, key, value or nil]`` (``nested_writes``)."""
    return (type(v) is list and len(v) == 3 and is_address(v[0]) and is_bytes(v[1])
            and (v[2] is None or is_bytes(v[2])))


def is_salt(v: Any) -> bool:
    return type(v) is bytes and len(v) <= MAX_SALT


MAX_SALT = 64
"""The longest salt an instantiate may give."""

MAX_HISTORY = 1024
"""The most code changes (instantiate, migrations) a contract may record."""


def list_of(check: Check) -> Check:
    return lambda v: type(v) is list and all(check(x) for x in v)


def optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def map_of(key: Check, value: Check) -> Check:
    return lambda v: type(v) is dict and all(key(k) and value(x) for k, x in v.items())


def is_context(v: Any) -> bool:
    return type(v) is dict and all(k in CONTEXT_FIELDS and CONTEXT_FIELDS[k](x) for k, x in v.items())


CONTEXT_FIELDS: dict[str, Check] = {"caller": is_bytes, "height": is_int, "time": is_int}

TARGET = Field(is_target, "a hex sha256 code id or a contract address (40 hex)", required=True)

_CALL: dict[str, Field] = {
    "code_id": TARGET,
    "function": Field(is_str, "an export name", required=True),
    "args": Field(list_of(is_number), "a list of numbers"),
    "input": Field(is_bytes, "bytes"),
    "context": Field(is_context, "a map of caller (bytes), height (int), time (int)"),
    "gas_limit": Field(is_count, "a non-negative integer"),
    "timeout": Field(is_positive, "a positive number of seconds"),
}

MAX_CREDITS = 16
"""The most jobs a worker may hold at once (its running job and those waiting in its socket)."""


def is_credits(v: Any) -> bool:
    return is_count(v) and 1 <= v <= MAX_CREDITS


def is_map(v: Any) -> bool:
    return type(v) is dict


def is_root(v: Any) -> bool:
    """A state root: 32 bytes (a SHA-256 digest)."""
    return type(v) is bytes and len(v) == ROOT_SIZE


ROOT_SIZE = 32

MAX_ACCESS_KEYS = 256
"""The most keys a block call may declare in ``access``."""

MAX_ACCESS_KEY = 64 * 1024
"""The longest key ``access`` or ``prefetched`` may hold: the host ABI's key limit (``HostLimits.key``)."""


def is_key(v: Any) -> bool:
    """A state key: bytes within the ABI's key limit."""
    return type(v) is bytes and len(v) <= MAX_ACCESS_KEY


def is_access(v: Any) -> bool:
    """A block call's declared access set: a list of at most MAX_ACCESS_KEYS keys."""
    return type(v) is list and len(v) <= MAX_ACCESS_KEYS and all(is_key(k) for k in v)


MAX_SCAN_PAGE = 256
"""The most entries one ``scan`` CALLBACK_REPLY carries (a worker asks for at most this many)."""


def is_scan_order(v: Any) -> bool:
    return type(v) is int and v in (0, 1)


def is_scan_limit(v: Any) -> bool:
    return type(v) is int and 1 <= v <= MAX_SCAN_PAGE


def is_entries(v: Any) -> bool:
    """A ``scan`` page: a list of at most MAX_SCAN_PAGE [key, value] pairs."""
    return type(v) is list and len(v) <= MAX_SCAN_PAGE and all(
        type(e) is list and len(e) == 2 and type(e[0]) is bytes and type(e[1]) is bytes for e in v)


def is_prefetched(v: Any) -> bool:
    """Reads answered ahead of a chunk call: a list of [key, value or nil]."""
    return type(v) is list and all(type(e) is list and len(e) == 2 and is_key(e[0])
                                   and (e[1] is None or type(e[1]) is bytes) for e in v)


ACCESS = Field(is_access, f"a list of at most {MAX_ACCESS_KEYS} keys (bytes, each at most "
                         f"{MAX_ACCESS_KEY} long) the call expects to read")
"""A call's declared access set: keys of its own contract it expects to read, a hint for speed only.

The broker reads them when it dispatches the call and sends them with the
job (``prefetched``), so the call reads them without a CALLBACK; a key
declared and not read, or read and not declared, costs nothing but speed.
"""

CALL_REQUEST: dict[str, Field] = {**_CALL, "access": ACCESS}
"""A CALL or QUERY request: a call's fields and its declared ``access``."""

BLOCK_CALL: dict[str, Field] = {
    **{name: spec for name, spec in _CALL.items() if name != "timeout"},
    "access": ACCESS,
}
"""One call of a BLOCK request (each is checked by the broker; the block has one time limit).

``access`` is a hint (the keys of the call's own contract it will read): it
changes how fast a block runs, never its result.
"""

BLOCK_REQUEST: dict[str, Field] = {
    "calls": Field(list_of(is_map), "a list of call maps", required=True),
    "dry_run": Field(is_bool, "a boolean"),
    "state_root": Field(optional(is_root), "the expected pre-state root (32 bytes) or nil"),
    "timeout": Field(is_positive, "a positive number of seconds (the whole block)"),
}

CLIENT_SCHEMAS: dict[str, dict[str, Field]] = {
    Op.DEPLOY: {"code": Field(is_bytes, "the module's bytes", required=True),
                "gas_limit": Field(is_count, "a non-negative integer (the deploy's gas limit)")},
    Op.CALL: CALL_REQUEST,
    Op.QUERY: CALL_REQUEST,
    Op.STATS: {},
    Op.STATE_GET: {
        "code_id": TARGET,
        "key": Field(is_bytes, "bytes", required=True),
    },
    Op.BLOCK: BLOCK_REQUEST,
    Op.PIN: {"code_id": Field(is_code_id, "a hex sha256 code id", required=True)},
    Op.UNPIN: {"code_id": Field(is_code_id, "a hex sha256 code id", required=True)},
    Op.INSTANTIATE: {
        "code_id": Field(is_code_id, "a hex sha256 code id", required=True),
        "input": Field(is_bytes, "bytes (the instantiate export's input)"),
        "salt": Field(is_salt, f"at most {MAX_SALT} bytes"),
        "admin": Field(optional(is_bytes), "bytes (who may migrate) or nil"),
        "caller": Field(is_bytes, "bytes (the creator, the call's caller)"),
        "gas_limit": Field(is_count, "a non-negative integer"),
        "timeout": Field(is_positive, "a positive number of seconds"),
    },
    Op.MIGRATE: {
        "address": Field(is_address, "a contract address (40 hex)", required=True),
        "code_id": Field(is_code_id, "the new code's hex sha256 code id", required=True),
        "input": Field(is_bytes, "bytes (the migrate export's input)"),
        "caller": Field(is_bytes, "bytes (must be the contract's admin)"),
        "gas_limit": Field(is_count, "a non-negative integer"),
        "timeout": Field(is_positive, "a positive number of seconds"),
    },
    Op.CONTRACT_INFO: {"address": Field(is_address, "a contract address (40 hex)", required=True)},
}

MAX_VERSIONS = 8
"""The most entries a ``versions`` map may hold (engine, gas, abi, floats today)."""


def is_versions(v: Any) -> bool:
    """A ``versions`` map: names to a count or a short name (``{"engine": 1, "floats": "canonical"}``)."""
    return type(v) is dict and len(v) <= MAX_VERSIONS and all(
        type(k) is str and len(k) <= 32 and (is_count(x) or (type(x) is str and len(x) <= 32))
        for k, x in v.items())


VERSIONS_FIELD = Field(is_versions, f"a map of at most {MAX_VERSIONS} version names to versions")
"""The versions that decided a result (``wasmpool.worker.versions``; the broker adds ``floats``)."""

def is_event(v: Any) -> bool:
    """An event of a result: ``[type, [[key, value], ...]]``, all bytes (``emit_event``), with a third
    element, the emitter's 20-byte address, when a contract it called emitted it (``call_contract``)."""
    return (type(v) is list and len(v) in (2, 3) and is_bytes(v[0]) and type(v[1]) is list
            and all(type(a) is list and len(a) == 2 and is_bytes(a[0]) and is_bytes(a[1]) for a in v[1])
            and (len(v) == 2 or is_address_bytes(v[2])))


RESULT_FIELDS: dict[str, Field] = {
    "status": Field(lambda v: v in Status.__members__.values(), "a status", required=True),
    "code": Field(is_count, "an error code", required=True),
    "results": Field(list_of(is_number), "a list of numbers"),
    "output": Field(is_bytes, "bytes"),
    "gas_used": Field(is_count, "a non-negative integer"),
    "logs": Field(list_of(is_bytes), "a list of bytes"),
    "writes": Field(map_of(is_bytes, optional(is_bytes)), "a map of bytes to bytes or nil"),
    "error": Field(optional(is_str), "a message"),
    "versions": VERSIONS_FIELD,
    "events": Field(list_of(is_event), "a list of [type, [[key, value], ...]] (bytes)"),
    "nested_writes": Field(list_of(is_located_write),
                           "a list of [contract address (40 hex), key, value or nil]"),
    "ahead": Field(list_of(is_count), "a list of indexes into the job's prefetched reads (those it read)"),
}

DEPLOY_REPLY_FIELDS: dict[str, Field] = {"code_id": Field(is_code_id, "a hex sha256 code id", required=True),
                                         "gas_used": Field(is_count, "the gas the deploy cost")}
"""The FINAL body of a DEPLOY request (``gas_used``: ``wasmpool.wire.prices.deploy_gas``)."""

STATE_REPLY_FIELDS: dict[str, Field] = {
    "value": Field(optional(is_bytes), "bytes or nil"),
    "version": Field(is_count, "a version"),
}
"""The FINAL body of a STATE_GET request."""

MAX_PINNED = 256
"""The most modules a broker keeps pinned: every worker holds all of them compiled, outside its LRU."""


def is_pin_list(v: Any) -> bool:
    return type(v) is list and len(v) <= MAX_PINNED and all(is_code_id(x) for x in v)


MAX_WARM = 16
"""The most code ids one HEARTBEAT asks a worker to compile ahead of calls (``warm``)."""


def is_warm_list(v: Any) -> bool:
    return type(v) is list and len(v) <= MAX_WARM and all(is_code_id(x) for x in v)


PIN_REPLY_FIELDS: dict[str, Field] = {
    "code_id": Field(is_code_id, "a hex sha256 code id", required=True),
    "pinned": Field(is_bool, "whether the module is pinned now", required=True),
    "changed": Field(is_bool, "whether the request changed the pinned set", required=True),
}
"""The FINAL body of a PIN or UNPIN request."""

def is_history(v: Any) -> bool:
    """A contract's code history: a list of {kind, code_id, by, sequence} maps."""
    return type(v) is list and len(v) <= MAX_HISTORY and all(
        type(e) is dict and e.get("kind") in ("instantiate", "migrate") and is_code_id(e.get("code_id"))
        and is_bytes(e.get("by")) and is_count(e.get("sequence")) for e in v)


CONTRACT_INFO_FIELDS: dict[str, Field] = {
    "address": Field(is_address, "a contract address (40 hex)", required=True),
    "code_id": Field(is_code_id, "the hex sha256 code id it runs now", required=True),
    "admin": Field(optional(is_bytes), "who may migrate it, or nil", required=True),
    "creator": Field(is_bytes, "who instantiated it", required=True),
    "salt": Field(is_bytes, "the salt of its address", required=True),
    "history": Field(is_history, "its code changes, oldest first", required=True),
}
"""The FINAL body of a CONTRACT_INFO request."""

ERROR_FIELDS: dict[str, Field] = {
    "code": Field(is_count, "an error code"),
    "message": Field(is_str, "a message"),
    "limit": Field(is_str, "the name of an operator ceiling or deploy rule"),
    "value": Field(is_count, "a module's figure above a deploy limit"),
    "maximum": Field(is_count, "the deploy limit"),
    "where": Field(is_str, "where in the module"),
    "instruction": Field(is_str, "the instruction or type refused"),
    "offset": Field(is_count, "a byte offset in the module"),
}
"""The body of an ERROR reply (``value`` ... ``offset`` only for a typed deploy refusal)."""

BLOCK_RESULT_FIELDS: dict[str, Field] = {
    "receipts": Field(list_of(is_map), "a list of receipts", required=True),
    "writes": Field(list_of(lambda w: type(w) is list and len(w) == 3), "a list of [code id, key, value]",
                    required=True),
    "state_root": Field(is_root, "the state root after the block (32 bytes)", required=True),
    "gas_used": Field(is_count, "a non-negative integer"),
    "dry_run": Field(is_bool, "a boolean"),
}
"""The FINAL body of a BLOCK request (``BlockResult.to_wire``)."""

MAX_CACHE_REPORT = 1024
"""The most code ids a worker's cache report may list (a worker caches 64 modules by default)."""


def is_cache_list(v: Any) -> bool:
    return type(v) is list and len(v) <= MAX_CACHE_REPORT and all(is_code_id(x) for x in v)


TIER_COUNTS = frozenset({"memory", "disk", "compile", "preloaded", "disk_bytes", "disk_evictions",
                         "disk_corrupt", "disk_write_errors"})
"""The counters of a worker's module tiers (``wasmpool.worker.tiers``): loads by tier, its disk cache's."""


def is_tier_counts(v: Any) -> bool:
    return type(v) is dict and all(k in TIER_COUNTS and is_count(n) for k, n in v.items())


CACHE_REPORT: dict[str, Field] = {
    "cache": Field(is_cache_list, f"a list of at most {MAX_CACHE_REPORT} code ids"),
    "hits": Field(is_count, "a count"),
    "misses": Field(is_count, "a count"),
    "tiers": Field(is_tier_counts, f"a map of counts named among {sorted(TIER_COUNTS)}"),
}
"""A worker's module-cache report, carried by READY and FINAL."""

WORKER_SCHEMAS: dict[Command | str, dict[str, Field]] = {
    Command.READY: {**CACHE_REPORT, "pid": Field(is_count, "a process id"),
                    "heartbeats": Field(is_bool, "a boolean (heartbeats while busy)"),
                    "credits": Field(is_credits, f"a count of jobs from 1 to {MAX_CREDITS}"),
                    "versions": VERSIONS_FIELD},
    Command.FINAL: {**RESULT_FIELDS, **CACHE_REPORT,
                    "leaving": Field(is_bool, "a boolean (the worker stops after this job)"),
                    "chunk": Field(list_of(is_map), "a list of call results (a block chunk)")},
    Command.HEARTBEAT: CACHE_REPORT,  # a worker's report rides on a HEARTBEAT when it changed while idle
    Command.DISCONNECT: {},
    Op.GET: {"seq": Field(is_count, "a sequence number", required=True),
             "key": Field(is_bytes, "bytes", required=True),
             "index": Field(is_count, "a call's position in the chunk"),
             "space": Field(is_space, "a contract address (40 hex) or the registry's namespace")},
    Op.CODE: {"seq": Field(is_count, "a sequence number", required=True),
              "index": Field(is_count, "a call's position in the chunk"),
              "code_id": Field(is_code_id, "the code id of a called contract's module")},
    Op.PIN_CODE: {"seq": Field(is_count, "a sequence number", required=True),
                  "code_id": Field(is_code_id, "a pinned module's code id", required=True)},
    Op.SCAN: {"seq": Field(is_count, "a sequence number", required=True),
              "start": Field(is_bytes, "bytes (the range's first key, inclusive)", required=True),
              "end": Field(is_bytes, "bytes (the range's end, exclusive; empty: unbounded)", required=True),
              "order": Field(is_scan_order, "0 (ascending) or 1 (descending)", required=True),
              "limit": Field(is_scan_limit, f"a count of entries from 1 to {MAX_SCAN_PAGE}", required=True),
              "index": Field(is_count, "a call's position in the chunk"),
              "space": Field(is_address, "a called contract's address (40 hex)")},
}


def is_job_id(v: Any) -> bool:
    return type(v) is bytes and 0 < len(v) <= MAX_REQUEST_ID


JOB_FIELDS: dict[str, Field] = {
    **_CALL,
    "code_id": Field(is_code_id, "a hex sha256 code id", required=True),
    "address": Field(is_address_bytes, "the contract's 20-byte address (absent for a legacy call)"),
    "optional": Field(is_bool, "a boolean: a missing export is an ok call that does nothing"),
    "gas_limit": Field(is_count, "a non-negative integer", required=True),
    "timeout": Field(is_positive, "a positive number of seconds", required=True),
    "readonly": Field(is_bool, "a boolean", required=True),
    "chunk": Field(list_of(is_map), "a list of jobs run one after another (a block chunk)"),
    "prefetched": Field(is_prefetched, "a list of [key, value or nil] (reads answered ahead)"),
    "after": Field(is_job_id, "the job id of the chunk this chunk continues"),
}
"""A broker -> worker REQUEST (a job). With ``chunk``, each entry is such a job body too.

A chunk entry's ``prefetched`` holds reads of its contract's state the
broker answered when it sent the chunk: they hold for every call of the
chunk, which reads them without a CALLBACK. A chunk with ``after``
continues that chunk (the last one the worker ran): its calls come right
after that chunk's, and they read its calls' writes as their own chunk's.
"""

def pairs_of(first: Check, second: Check) -> Check:
    return list_of(lambda v: type(v) is list and len(v) == 2 and first(v[0]) and second(v[1]))


BATCH_FIELDS: dict[str, Field] = {
    "jobs": Field(pairs_of(is_job_id, is_bytes), "a list of [job id, packed job body]", required=True),
}
"""A REQUEST carrying several jobs (a worker with several free credits): each body is a packed job.

The worker runs them one after another, in order; each is checked
(``JOB_FIELDS``) when its turn comes. The message's request id is the first job's.
"""

FINALS_FIELDS: dict[str, Field] = {
    **CACHE_REPORT,
    "leaving": Field(is_bool, "a boolean (the worker stops after these jobs)"),
    "finals": Field(pairs_of(is_job_id, is_map), "a list of [job id, result]", required=True),
}
"""A FINAL carrying the results of several consecutive jobs, in the order the worker ran them.

Each result is an ordinary FINAL body (``RESULT_FIELDS``), checked when the
broker takes it. A worker sends a job's FINAL alone whenever the job wrote
state, so what it wrote is committed before any later job reads.
"""

def is_chunk_read(v: Any) -> bool:
    """A chunk call's read: ``[key, writer]``, or ``[key, writer, space]`` outside its own namespace."""
    return (type(v) is list and len(v) in (2, 3) and is_bytes(v[0]) and is_int(v[1])
            and (len(v) == 2 or is_space(v[2])))


CHUNK_RESULT_FIELDS: dict[str, Field] = {
    **RESULT_FIELDS,
    "reads": Field(list_of(is_chunk_read),
                   "a list of [key, chain position of the write read, or -1] (a third element: the "
                   "namespace, for a read outside the call's own)", required=True),
}
"""One call's result in a chunk FINAL: its result and where each read came from."""

NONDETERMINISTIC: frozenset[int] = frozenset({ErrorCode.TIMEOUT, ErrorCode.STATE_UNAVAILABLE,
                                              ErrorCode.INTERNAL})
"""Codes of a result that say how the machine fared, not what the call does (a block re-executes)."""

CALLBACK_REPLY_FIELDS: dict[str, Field] = {
    "seq": Field(is_count, "a sequence number", required=True),
    "value": Field(optional(is_bytes), "bytes or nil"),
    "version": Field(is_count, "a version"),
    "code": Field(optional(is_bytes), "the module's bytes or nil"),
    "error": Field(is_str, "a message"),
    "entries": Field(is_entries, f"a list of at most {MAX_SCAN_PAGE} [key, value] pairs (a scan page)"),
    "more": Field(is_bool, "a boolean (entries of the range follow the page)"),
}

BROKER_SCHEMAS: dict[Command, dict[str, Field]] = {
    Command.REQUEST: JOB_FIELDS,
    Command.CALLBACK_REPLY: CALLBACK_REPLY_FIELDS,
    Command.HEARTBEAT: {"interval": Field(is_positive, "seconds between heartbeats"),
                        "liveness": Field(lambda v: type(v) is int and 1 <= v <= 1000,
                                          "missed heartbeats before a peer is dead"),
                        "max_body": Field(lambda v: type(v) is int and 1024 <= v <= 1 << 31,
                                          "the largest body the broker reads from a worker"),
                        "pinned": Field(is_pin_list, f"the pinned code ids (at most {MAX_PINNED})"),
                        "warm": Field(is_warm_list, f"modules to compile ahead (at most {MAX_WARM})")},
    Command.DISCONNECT: {},
}
"""What a worker accepts from the broker."""

CLIENT_COMMANDS = frozenset({Command.REQUEST})
WORKER_COMMANDS = frozenset(
    {Command.READY, Command.CALLBACK, Command.FINAL, Command.HEARTBEAT, Command.DISCONNECT}
)


def check_fields(body: Mapping[str, Any], schema: Mapping[str, Field], request_id: bytes = b"") -> None:
    """Raise BadRequest unless every required field is present and every known field is well-typed.

    Unknown fields are ignored, so that later versions may add fields.
    """
    for name, field in schema.items():
        if name not in body:
            if field.required:
                raise errors.BadRequest(f"missing field {name!r} ({field.what})", request_id)
        elif not field.check(body[name]):
            raise errors.BadRequest(f"field {name!r} must be {field.what}", request_id)


MAX_SHOWN = 64
"""The most characters of a refused value an error message quotes."""


_V = TypeVar("_V")


def op_schema(body: Mapping[str, Any], schemas: Mapping[Any, _V], request_id: bytes = b"") -> tuple[Op, _V]:
    """The ``op`` of a body and its entry in ``schemas`` (a schema, or a message class); raises BadRequest
    for a missing or unknown op."""
    op = body.get("op")
    if type(op) is not str or op not in schemas:
        raise errors.BadRequest(f"unknown op {repr(op)[:MAX_SHOWN]}", request_id)  # never echo a huge value
    return Op(op), schemas[op]


def decode_client(frames: Sequence[bytes], limits: ProtocolLimits = DEFAULT_LIMITS) -> tuple[Op, Message]:
    """A client REQUEST, fully checked."""
    message = decode(frames, CLIENT_TAG, CLIENT_COMMANDS, limits)
    op, schema = op_schema(message.body, CLIENT_SCHEMAS, message.request_id)
    check_fields(message.body, schema, message.request_id)
    return op, message


def decode_worker(frames: Sequence[bytes], limits: ProtocolLimits = DEFAULT_LIMITS) -> Message:
    """A worker message, fully checked (CALLBACKs by their op; a batched FINAL's results one by one later)."""
    message = decode(frames, WORKER_TAG, WORKER_COMMANDS, limits)
    if message.command is Command.CALLBACK:
        _, schema = op_schema(message.body, WORKER_SCHEMAS, message.request_id)
    elif message.command is Command.FINAL and "finals" in message.body:
        schema = FINALS_FIELDS
    else:
        schema = WORKER_SCHEMAS[message.command]
    check_fields(message.body, schema, message.request_id)
    return message


def decode_broker(frames: Sequence[bytes], limits: ProtocolLimits = DEFAULT_LIMITS) -> Message:
    """A message from the broker to a worker, fully checked (a batch's jobs one by one later)."""
    message = decode(frames, WORKER_TAG, frozenset(BROKER_SCHEMAS), limits)
    if message.command is Command.REQUEST and "jobs" in message.body:
        check_fields(message.body, BATCH_FIELDS, message.request_id)
    else:
        check_fields(message.body, BROKER_SCHEMAS[message.command], message.request_id)
    return message


def decode_reply(frames: Sequence[bytes], limits: ProtocolLimits = DEFAULT_LIMITS) -> Message:
    """A broker's reply to a client (FINAL or ERROR); the body is checked by the client per op."""
    return decode(frames, CLIENT_TAG, frozenset({Command.FINAL, Command.ERROR}), limits)


# --- errors -----------------------------------------------------------------

ERROR_CODES: dict[type[BaseException], ErrorCode] = {
    errors.BadFrame: ErrorCode.BAD_FRAME,
    errors.BadBody: ErrorCode.BAD_BODY,
    errors.MessageTooLarge: ErrorCode.TOO_LARGE,
    errors.UnknownCommand: ErrorCode.UNKNOWN_COMMAND,
    errors.BadRequest: ErrorCode.BAD_REQUEST,
    errors.ProtocolError: ErrorCode.BAD_FRAME,
    errors.InvalidModule: ErrorCode.INVALID_MODULE,
    errors.UnknownCode: ErrorCode.UNKNOWN_CODE,
    errors.UnknownContract: ErrorCode.UNKNOWN_CONTRACT,
    errors.ContractExists: ErrorCode.CONTRACT_EXISTS,
    errors.NotAdmin: ErrorCode.NOT_ADMIN,
    errors.Busy: ErrorCode.BUSY,
    errors.RequestTimeout: ErrorCode.TIMEOUT,
    errors.Conflict: ErrorCode.CONFLICT,
    errors.InternalError: ErrorCode.INTERNAL,
    errors.StateRootMismatch: ErrorCode.STATE_ROOT_MISMATCH,
    errors.BlockFailed: ErrorCode.BLOCK_FAILED,
    errors.StorageError: ErrorCode.STORAGE,
    errors.DeployOutOfGas: ErrorCode.OUT_OF_GAS,
    errors.PoolError: ErrorCode.INTERNAL,
    errors.Revert: ErrorCode.REVERTED,
    errors.ReadOnlyViolation: ErrorCode.READ_ONLY,
    errors.CallTimeout: ErrorCode.TIMEOUT,
    errors.BadCall: ErrorCode.BAD_CALL,
    errors.StateUnavailable: ErrorCode.STATE_UNAVAILABLE,
    errors.ResultTooLarge: ErrorCode.RESULT_TOO_LARGE,
    errors.ContractError: ErrorCode.INTERNAL,
}
"""The pool's own exception classes -> wire code; looked up along the exception's MRO.

The engine's exceptions are mapped where the engine runs, in the worker
(``wasmpool.worker.codes``, which extends this table): the wire never loads the engine.
"""

KNOWN: tuple[type[BaseException], ...] = (errors.PoolError, errors.ContractError)
"""The exception families whose messages are meant for people (shown without their class name)."""

MAX_CAUSES = 16


def error_code(exc: BaseException, table: Mapping[type[BaseException], ErrorCode] = ERROR_CODES,
               known: tuple[type[BaseException], ...] = KNOWN) -> ErrorCode:
    """The mapping from an exception to its wire code, by ``table`` (the pool's own errors by default).

    The engine may hand a host function's exception back wrapped in a Trap
    whose ``__cause__`` it is; the innermost exception along the ``__cause__``
    chain that is ``known`` decides (so a revert or gas exhaustion inside a
    host call keeps its meaning). Anything else is INTERNAL.
    """
    chosen = decisive(exc, known)
    return next((table[cls] for cls in type(chosen).__mro__ if cls in table), ErrorCode.INTERNAL)


def decisive(exc: BaseException, known: tuple[type[BaseException], ...] = KNOWN) -> BaseException:
    """The exception that decides ``exc``'s code: the innermost ``known`` one along ``__cause__``."""
    chosen = exc
    for link in _causes(exc):
        if isinstance(link, known):
            chosen = link
    return chosen


def error_message(exc: BaseException, known: tuple[type[BaseException], ...] = KNOWN) -> str:
    """A message for people: the decisive exception's text (or its class name)."""
    chosen = decisive(exc, known)
    text, name = str(chosen), type(chosen).__name__
    if isinstance(chosen, known):
        return text or name
    return f"{name}: {text}" if text else name


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its explicit causes, outermost first (bounded, cycle-safe)."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen and len(seen) < MAX_CAUSES:
        seen.add(id(link))
        yield link
        link = link.__cause__


STATUS_BY_CODE: dict[ErrorCode, Status] = {
    ErrorCode.OK: Status.OK,
    ErrorCode.TRAP: Status.TRAP,
    ErrorCode.OUT_OF_GAS: Status.OUT_OF_GAS,
    ErrorCode.REVERTED: Status.REVERTED,
    ErrorCode.TIMEOUT: Status.TIMEOUT,
}
"""A call's status from its code; every code not listed is ``error``."""


def status_for(code: ErrorCode) -> Status:
    return STATUS_BY_CODE.get(code, Status.ERROR)


EXCEPTION_BY_CODE: dict[int, type[errors.PoolError]] = {
    ErrorCode.BAD_FRAME: errors.BadFrame,
    ErrorCode.BAD_BODY: errors.BadBody,
    ErrorCode.TOO_LARGE: errors.MessageTooLarge,
    ErrorCode.UNKNOWN_COMMAND: errors.UnknownCommand,
    ErrorCode.BAD_REQUEST: errors.BadRequest,
    ErrorCode.INVALID_MODULE: errors.InvalidModule,
    ErrorCode.UNKNOWN_CODE: errors.UnknownCode,
    ErrorCode.UNKNOWN_CONTRACT: errors.UnknownContract,
    ErrorCode.CONTRACT_EXISTS: errors.ContractExists,
    ErrorCode.NOT_ADMIN: errors.NotAdmin,
    ErrorCode.BUSY: errors.Busy,
    ErrorCode.TIMEOUT: errors.RequestTimeout,
    ErrorCode.CONFLICT: errors.Conflict,
    ErrorCode.INTERNAL: errors.InternalError,
    ErrorCode.STATE_ROOT_MISMATCH: errors.StateRootMismatch,
    ErrorCode.BLOCK_FAILED: errors.BlockFailed,
    ErrorCode.STORAGE: errors.StorageError,
    ErrorCode.OUT_OF_GAS: errors.DeployOutOfGas,
}


def error_for(code: int, message: str, limit: object = None, value: object = None, maximum: object = None,
              where: object = None, instruction: object = None, offset: object = None) -> errors.PoolError:
    """The exception a client raises for an ERROR reply.

    LimitExceeded when a BAD_REQUEST names a ``limit``; an INVALID_MODULE
    naming a ``limit`` and ``where`` is a DeployRefused (FloatsRejected when
    it names an ``instruction``, ModuleLimitExceeded when it gives ``value``
    and ``maximum``): all are InvalidModule, so catching that still works.
    """
    if code == ErrorCode.BAD_REQUEST and type(limit) is str and limit:
        return errors.LimitExceeded(message, limit=limit)
    if code == ErrorCode.INVALID_MODULE and type(where) is str and type(limit) is str and limit:
        if type(instruction) is str:
            return errors.FloatsRejected(message, where, instruction, offset if type(offset) is int else -1)
        if type(value) is int and type(maximum) is int:
            return errors.ModuleLimitExceeded(message, limit, where, value, maximum)
        return errors.DeployRefused(message, limit, where)
    return EXCEPTION_BY_CODE.get(code, errors.InternalError)(message)


def code_id(module: bytes) -> str:
    """A module's code id: the hex sha256 of its bytes."""
    return hashlib.sha256(module).hexdigest()


ADDRESS_DOMAIN = b"wasmpool/contract/v1"
"""The domain separator hashed first into every contract address."""


def contract_address(creator: bytes, code_id: str, salt: bytes) -> bytes:
    """The 20-byte address of the contract ``creator`` instantiates of ``code_id`` with ``salt``.

    The first 20 bytes of SHA-256 over the domain, then creator, code id (its
    32 bytes) and salt, the variable-length ones each preceded by their
    length as a u32 little-endian (docs/abi.md).
    """
    digest = hashlib.sha256(ADDRESS_DOMAIN + len(creator).to_bytes(4, "little") + creator
                            + bytes.fromhex(code_id) + len(salt).to_bytes(4, "little") + salt).digest()
    return digest[:ADDRESS_SIZE]
