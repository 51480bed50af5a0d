"""Clients of the pool: :class:`Client` (blocking) and :class:`AsyncClient` (zmq.asyncio).

Both speak the frontend protocol over one DEALER socket. Every request gets
a fresh request id; when no answer comes within the wait, the same request
(same id) is sent again, up to ``retries`` times (ZeroMQ's "lazy pirate"),
and the broker answers a repeated id without running it twice. Only then
does the client give up with :class:`~wasmpool.wire.errors.RequestTimeout`.

Request ids are the client's own: the broker keeps them apart from every
other client's by the client's CURVE key, or without CURVE by its *session
id*, which the client sends as its ZeroMQ identity (``ROUTING_ID``). A fresh
client picks a random one; pass ``session=`` (and ``request_id=`` to
:meth:`Client.request`) to retry a request after the client process itself
restarted and still get its original answer.

``setup_socket`` (e.g. making the socket a CurveZMQ client) runs before the
socket connects. ``curve_secret=FILE, curve_public_dir=DIR`` does the CURVE
part directly: the client's own ``NAME.key_secret`` and the directory
holding the broker's ``broker.key``, as the CLI's ``--curve-*`` options.

A contract's own outcome, good or bad, is a :class:`Result` (``status`` ok,
trap, out_of_gas, reverted, timeout or error). A request the pool cannot
serve raises the typed :class:`~wasmpool.wire.errors.PoolError` for the ERROR code
the broker sent (InvalidModule, UnknownCode, Busy, BadRequest, ...).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import zmq
import zmq.asyncio

from wasmpool.broker.security import CurveClient
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode, Op, Status
from wasmpool.wire.receipts import BlockCall, BlockResult

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_WAIT = 30.0
CALL_MARGIN = 10.0  # extra wait beyond a call's own time limit (queueing, compiling)

Number = int | float


@dataclass(frozen=True, slots=True)
class Result:
    """A contract call's outcome."""

    status: Status
    results: list[Number] = field(default_factory=list)
    output: bytes = b""
    gas_used: int = 0
    logs: list[bytes] = field(default_factory=list)
    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    error: str | None = None
    code: ErrorCode = ErrorCode.OK
    attempts: int = 1
    versions: dict[str, int | str] = field(default_factory=dict)
    """What decided it: ``engine``, ``gas``, ``abi`` (the worker's), ``floats`` (the broker's policy)."""
    events: list[ResultEvent] = field(default_factory=list)
    """The call's events (``emit_event``) in order: (type, [(key, value), ...]), plus the emitter's 20-byte
    address when a contract the call called emitted it; none unless it ended ok."""
    nested_writes: dict[str, dict[bytes, bytes | None]] = field(default_factory=dict)
    """The writes of the contracts the call called (``call_contract``), by contract address (hex), committed
    with ``writes`` in one transaction; none unless it ended ok."""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Result:
        """A Result from a FINAL body (checked against the protocol's result schema)."""
        p.check_fields(body, p.RESULT_FIELDS)
        code = body["code"]
        return cls(Status(body["status"]), list(body.get("results", [])), body.get("output", b""),
                   body.get("gas_used", 0), list(body.get("logs", [])), dict(body.get("writes", {})),
                   body.get("error"), ErrorCode(code) if code in ErrorCode.__members__.values()
                   else ErrorCode.INTERNAL, body.get("attempts", 1), dict(body.get("versions") or {}),
                   [result_event(event) for event in body.get("events", [])],
                   nested_writes_of(body.get("nested_writes", [])))


def nested_writes_of(raw: Sequence[Sequence[Any]]) -> dict[str, dict[bytes, bytes | None]]:
    """A result's ``nested_writes`` (``[address hex, key, value or nil]`` in order) grouped by contract."""
    grouped: dict[str, dict[bytes, bytes | None]] = {}
    for address, key, value in raw:
        grouped.setdefault(address, {})[bytes(key)] = value
    return grouped


ResultEvent = tuple[bytes, list[tuple[bytes, bytes]]] | tuple[bytes, list[tuple[bytes, bytes]], bytes]
"""An event of a Result: its type and attributes, and its emitter's address when a callee emitted it."""


def result_event(raw: Sequence[Any]) -> ResultEvent:
    """An event from its wire form, ``[type, [[key, value], ...]]`` with the emitter as a third element."""
    kind, attributes = bytes(raw[0]), [(bytes(key), bytes(value)) for key, value in raw[1]]
    return (kind, attributes) if len(raw) == 2 else (kind, attributes, bytes(raw[2]))


class Deployed(str):
    """A deploy's answer: the module's code id (this string) and ``gas_used``, what the deploy cost."""

    gas_used: int

    def __new__(cls, code_id: str, gas_used: int = 0) -> Deployed:
        deployed = super().__new__(cls, code_id)
        deployed.gas_used = gas_used
        return deployed


Target = str | bytes
"""What a call names: a code id (hex; a legacy call in the code's own namespace) or a contract's
address (40 hex characters, or its 20 bytes)."""


def target(value: Target) -> str:
    """The wire form of a call's target: hex (a 20-byte address becomes its 40 hex characters)."""
    return bytes(value).hex() if isinstance(value, bytes | bytearray) else str(value).lower()


@dataclass(frozen=True, slots=True)
class Instantiated:
    """An instantiate's answer: the contract's address (hex; empty when it failed) and its call's result.

    When ``result`` is not ok the contract does not exist and nothing was written.
    """

    address: str
    result: Result

    @property
    def ok(self) -> bool:
        return self.result.ok


def _instantiated(body: dict[str, Any]) -> Instantiated:
    result = Result.from_body(body)
    address = body.get("address", "")
    return Instantiated(address if result.ok and p.is_address(address) else "", result)


def instantiate_exchange(code_id: str, input: bytes, salt: bytes, admin: bytes | None, caller: bytes,
                         gas_limit: int | None, timeout: float | None) -> Exchange[Instantiated]:
    return Exchange(m.InstantiateRequest(str(code_id), bytes(input), bytes(salt),
                                         None if admin is None else bytes(admin), bytes(caller), gas_limit,
                                         timeout).to_body(), _instantiated)


def migrate_exchange(address: Target, code_id: str, input: bytes, caller: bytes, gas_limit: int | None,
                     timeout: float | None) -> Exchange[Result]:
    return Exchange(m.MigrateRequest(target(address), str(code_id), bytes(input), bytes(caller), gas_limit,
                                     timeout).to_body(), Result.from_body)


def contract_info_exchange(address: Target) -> Exchange[m.ContractInfo]:
    return Exchange(m.ContractInfoRequest(target(address)).to_body(), m.ContractInfo.from_body)


def call_body(op: Op, code_id: Target, function: str, args: Sequence[Number] | None, input: bytes | None,
              context: Mapping[str, Any] | None, gas_limit: int | None,
              timeout: float | None, access: Sequence[bytes] | None = None) -> dict[str, Any]:
    """The REQUEST body of a call or query; optional fields are left out."""
    return m.CallRequest.body(op, target(code_id), function, list(args or []), input,
                              dict(context) if context is not None else None, gas_limit, timeout,
                              [bytes(key) for key in access] if access else None)


def block_body(calls: Sequence[BlockCall | Mapping[str, Any]], dry_run: bool, state_root: bytes | None,
               timeout: float | None) -> dict[str, Any]:
    """The REQUEST body of a block: calls (BlockCalls or their wire maps) in block order.

    With ``dry_run`` nothing is committed; ``state_root`` is the expected
    pre-state root; ``timeout`` bounds the whole block (seconds).
    """
    wire = [call.to_wire() if isinstance(call, BlockCall) else dict(call) for call in calls]
    return m.BlockRequest(wire, dry_run, None if state_root is None else bytes(state_root), timeout).to_body()


def block_result(body: Mapping[str, Any]) -> BlockResult:
    """A BlockResult from a BLOCK's FINAL body (checked against the protocol's schema)."""
    p.check_fields(body, p.BLOCK_RESULT_FIELDS)
    return BlockResult.from_wire(body)


_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Exchange(Generic[_T]):
    """One request of the client API: the body it sends and how its FINAL body is read.

    Both clients run the same exchanges (one blocking, one awaiting), so
    each request is built, and each reply read, in one place.
    """

    body: dict[str, Any]
    read: Callable[[dict[str, Any]], _T]


def _identity(body: dict[str, Any]) -> dict[str, Any]:
    return body


def _deployed(body: dict[str, Any]) -> Deployed:
    reply = m.DeployReply.from_body(body)
    return Deployed(reply.code_id, reply.gas_used or 0)


def _state(body: dict[str, Any]) -> tuple[bytes | None, int]:
    reply = m.StateReply.from_body(body)
    return reply.value, reply.version


def deploy_exchange(module: bytes, gas_limit: int | None = None) -> Exchange[Deployed]:
    return Exchange(m.DeployRequest(bytes(module), gas_limit).to_body(), _deployed)


def call_exchange(op: Op, code_id: Target, function: str, args: Sequence[Number] | None, input: bytes | None,
                  context: Mapping[str, Any] | None, gas_limit: int | None,
                  timeout: float | None, access: Sequence[bytes] | None = None) -> Exchange[Result]:
    return Exchange(call_body(op, code_id, function, args, input, context, gas_limit, timeout, access),
                    Result.from_body)


def stats_exchange() -> Exchange[dict[str, Any]]:
    return Exchange(m.StatsRequest().to_body(), _identity)


def pin_exchange(op: Op, code_id: str) -> Exchange[m.PinReply]:
    """Pin (``Op.PIN``) or unpin (``Op.UNPIN``) a deployed module on every worker."""
    return Exchange(m.PinRequest(op, str(code_id)).to_body(), m.PinReply.from_body)


def state_get_exchange(code_id: Target, key: bytes) -> Exchange[tuple[bytes | None, int]]:
    return Exchange(m.StateGetRequest(target(code_id), bytes(key)).to_body(), _state)


def block_exchange(calls: Sequence[BlockCall | Mapping[str, Any]], dry_run: bool, state_root: bytes | None,
                   timeout: float | None) -> Exchange[BlockResult]:
    return Exchange(block_body(calls, dry_run, state_root, timeout), block_result)


SESSION_SIZE = 16
"""Bytes of a random session id."""


def new_session() -> bytes:
    """A random session id: 16 bytes, the first never zero (identities starting so are libzmq's own)."""
    return bytes([1 + os.urandom(1)[0] % 255]) + os.urandom(SESSION_SIZE - 1)


def check_session(session: bytes) -> bytes:
    """A session id must be 1..255 bytes and not start with a zero byte (libzmq's own identities do)."""
    if not 0 < len(session) <= 255 or session[:1] == b"\0":
        raise ValueError("a session id is 1..255 bytes and does not start with a zero byte")
    return bytes(session)


class _RequestIds:
    """Unique request ids: a random per-client prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8)
        self._counter = itertools.count(1)

    def next(self) -> bytes:
        return self._prefix + next(self._counter).to_bytes(8, "big")


def _answer(message: p.Message) -> dict[str, Any]:
    """A FINAL's body, or the typed exception of an ERROR (InternalError for a malformed one)."""
    if message.command is Command.ERROR:
        try:
            reply = m.ErrorReply.from_body(message.body)
        except errors.ProtocolError as exc:
            reply = m.ErrorReply(ErrorCode.INTERNAL, f"malformed ERROR reply: {exc.reason}")
        raise reply.error()
    return message.body


def _wait_for(body: Mapping[str, Any], default: float) -> float:
    """How long to wait for one attempt: the call's own time limit plus a margin, at least ``default``."""
    timeout = body.get("timeout")
    return default if timeout is None else max(default, timeout + CALL_MARGIN)


SocketSetup = Callable[[zmq.Socket[Any]], object]
KeyPath = str | os.PathLike[str]


def with_curve(setup: SocketSetup | None, secret: KeyPath | None,
               public_dir: KeyPath | None) -> SocketSetup | None:
    """``setup`` preceded by making the socket a CURVE client, when both key options are given."""
    if (secret is None) != (public_dir is None):
        raise ValueError("curve_secret and curve_public_dir go together")
    if secret is None or public_dir is None:
        return setup
    curve = CurveClient.from_dir(secret, public_dir)
    if setup is None:
        return curve

    def both(sock: zmq.Socket[Any]) -> None:
        curve(sock)
        setup(sock)
    return both


_S = TypeVar("_S", bound=zmq.Socket[Any])


def _socket(context: zmq.Context[_S], endpoint: str, setup: SocketSetup | None, session: bytes) -> _S:
    """A DEALER (blocking or asyncio, as ``context`` makes them) named ``session``, set up to connect."""
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ROUTING_ID, session)
    if setup is not None:
        setup(sock)
    sock.connect(endpoint)
    return sock


class _Connection(Generic[_S]):
    """What both clients keep: the broker's endpoint, the wait and retry policy, the limits, the DEALER."""

    socket: _S

    def _connect(self, endpoint: str, timeout: float, retries: int, limits: p.ProtocolLimits,
                 context: zmq.Context[_S], setup_socket: SocketSetup | None, curve_secret: KeyPath | None,
                 curve_public_dir: KeyPath | None, session: bytes | None) -> None:
        self.endpoint = endpoint
        self.session = new_session() if session is None else check_session(session)
        self.timeout = timeout
        self.retries = retries
        self.limits = limits
        self.socket = _socket(context, endpoint, with_curve(setup_socket, curve_secret, curve_public_dir),
                              self.session)
        self._ids = _RequestIds()


class Client(_Connection[zmq.Socket[Any]]):
    """A blocking client; one request at a time (use one Client per thread)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, timeout: float = DEFAULT_WAIT, retries: int = 2,
                 context: zmq.Context[Any] | None = None, limits: p.ProtocolLimits = p.DEFAULT_LIMITS,
                 setup_socket: SocketSetup | None = None, curve_secret: KeyPath | None = None,
                 curve_public_dir: KeyPath | None = None, session: bytes | None = None) -> None:
        self._connect(endpoint, timeout, retries, limits, context or zmq.Context.instance(), setup_socket,
                      curve_secret, curve_public_dir, session)

    def deploy(self, module: bytes, *, gas_limit: int | None = None) -> Deployed:
        """Deploy a module; returns its code id (a str carrying ``gas_used``).

        A deploy costs ``wasmpool.wire.prices.deploy_gas(len(module))``;
        ``gas_limit`` defaults to ``prices.DEFAULT_DEPLOY_GAS_LIMIT`` (enough
        for the biggest module the default size limit admits). Raises
        DeployOutOfGas (nothing stored) when the price is over it, and
        InvalidModule with the engine's message.
        """
        return self.exchange(deploy_exchange(module, gas_limit))

    def call(self, code_id: Target, function: str, args: Sequence[Number] | None = None, *,
             input: bytes | None = None, context: Mapping[str, Any] | None = None,
             gas_limit: int | None = None, timeout: float | None = None,
             access: Sequence[bytes] | None = None) -> Result:
        """Call an export of a contract (its address) or a code (its code id: a legacy call).

        Its writes commit when the result is ok; UnknownContract for an address no contract has.
        ``access``: keys of the contract's state the call expects to read (at
        most ``MAX_ACCESS_KEYS``); the broker sends them with the job, which
        saves the worker a round trip per key. A hint for speed only: the
        result is the same with or without it.
        """
        return self.exchange(call_exchange(Op.CALL, code_id, function, args, input, context, gas_limit,
                                           timeout, access))

    def query(self, code_id: Target, function: str, args: Sequence[Number] | None = None, *,
              input: bytes | None = None, context: Mapping[str, Any] | None = None,
              gas_limit: int | None = None, timeout: float | None = None,
              access: Sequence[bytes] | None = None) -> Result:
        """Call an export read-only: any state write ends it with status error.

        Its gas limit is at most the broker's query gas cap (``--query-gas``); ``access`` as for :meth:`call`.
        """
        return self.exchange(call_exchange(Op.QUERY, code_id, function, args, input, context, gas_limit,
                                           timeout, access))

    def stats(self) -> dict[str, Any]:
        """Pool statistics (workers, queue, in flight, jobs done, cache hit rate, ...)."""
        return self.exchange(stats_exchange())

    def state_get(self, code_id: Target, key: bytes) -> tuple[bytes | None, int]:
        """A contract's (or legacy code's) committed value for ``key`` (None when absent) and its version."""
        return self.exchange(state_get_exchange(code_id, key))

    def instantiate(self, code_id: str, init_input: bytes = b"", *, salt: bytes = b"",
                    admin: bytes | None = None, caller: bytes = b"", gas_limit: int | None = None,
                    timeout: float | None = None) -> Instantiated:
        """Create a contract of ``code_id``: its address derives from ``caller``, the code and ``salt``.

        Runs the code's ``instantiate`` export, if it has one, with
        ``init_input``; when that is not ok the contract does not exist.
        ContractExists when the address is taken; ``admin`` may migrate it.
        """
        return self.exchange(instantiate_exchange(code_id, init_input, salt, admin, caller, gas_limit,
                                                  timeout))

    def migrate(self, address: Target, new_code_id: str, input: bytes = b"", *, caller: bytes = b"",
                gas_limit: int | None = None, timeout: float | None = None) -> Result:
        """Switch a contract to new code keeping its state, running the new code's ``migrate`` export if any.

        Only its admin (``caller``) may: NotAdmin otherwise.
        """
        return self.exchange(migrate_exchange(address, new_code_id, input, caller, gas_limit, timeout))

    def contract_info(self, address: Target) -> m.ContractInfo:
        """A contract's code id, admin, creator, salt and code history (UnknownContract if none)."""
        return self.exchange(contract_info_exchange(address))

    def pin(self, code_id: str) -> m.PinReply:
        """Keep a deployed module compiled on every worker, outside their LRUs (durable; else UnknownCode)."""
        return self.exchange(pin_exchange(Op.PIN, code_id))

    def unpin(self, code_id: str) -> m.PinReply:
        """Let a pinned module fall back into the workers' LRU caches (no change if it was not pinned)."""
        return self.exchange(pin_exchange(Op.UNPIN, code_id))

    def execute_block(self, calls: Sequence[BlockCall | Mapping[str, Any]], *, dry_run: bool = False,
                      state_root: bytes | None = None, timeout: float | None = None) -> BlockResult:
        """Execute an ordered block of calls in parallel with serial results; see :func:`block_body`.

        Raises StateRootMismatch when ``state_root`` (the expected pre-state
        root) is given and differs, BlockFailed when the block could not finish.
        A call's declared ``access`` (BlockCall.access, or the wire map's
        ``access`` list of keys) is passed through: a hint for speed only.
        """
        return self.exchange(block_exchange(calls, dry_run, state_root, timeout))

    def exchange(self, exchange: Exchange[_T]) -> _T:
        """Send an exchange's request and read its reply."""
        return exchange.read(self.request(exchange.body))

    def request(self, body: Mapping[str, Any], *, request_id: bytes | None = None) -> dict[str, Any]:
        """Send one request, retrying with the same id, and return the FINAL body.

        ``request_id`` (1..32 bytes) replaces the fresh one: the same id from
        the same session (or CURVE key) is answered once, however often sent.
        """
        rid = self._ids.next() if request_id is None else bytes(request_id)
        frames = p.encode(p.CLIENT_TAG, Command.REQUEST, rid, body)
        wait = _wait_for(body, self.timeout)
        self.socket.setsockopt(zmq.SNDTIMEO, int(wait * 1000))  # no peer (e.g. CURVE refused): no send
        for _ in range(self.retries + 1):
            try:
                self.socket.send_multipart(frames)
            except zmq.Again:
                continue
            message = self._receive(rid, wait)
            if message is not None:
                return _answer(message)
        raise errors.RequestTimeout(f"no answer from {self.endpoint} after {self.retries + 1} attempts "
                                    f"of {wait:.0f}s")

    def _receive(self, rid: bytes, wait: float) -> p.Message | None:
        """The reply to ``rid`` within ``wait`` seconds (stale and garbled replies are skipped)."""
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if not self.socket.poll(int(left * 1000) + 1):
                return None
            try:
                message = p.decode_reply(self.socket.recv_multipart(), self.limits)
            except errors.ProtocolError:
                continue
            if message.request_id == rid:
                return message
        return None

    def close(self) -> None:
        self.socket.close(linger=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Connection[zmq.asyncio.Socket]):
    """An asyncio client: many requests may be in flight at once on its one socket."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, timeout: float = DEFAULT_WAIT, retries: int = 2,
                 context: zmq.asyncio.Context | None = None, limits: p.ProtocolLimits = p.DEFAULT_LIMITS,
                 setup_socket: SocketSetup | None = None, curve_secret: KeyPath | None = None,
                 curve_public_dir: KeyPath | None = None, session: bytes | None = None) -> None:
        self._connect(endpoint, timeout, retries, limits, context or zmq.asyncio.Context.instance(),
                      setup_socket, curve_secret, curve_public_dir, session)
        self._pending: dict[bytes, asyncio.Future[p.Message]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def deploy(self, module: bytes, *, gas_limit: int | None = None) -> Deployed:
        return await self.exchange(deploy_exchange(module, gas_limit))

    async def call(self, code_id: Target, function: str, args: Sequence[Number] | None = None, *,
                   input: bytes | None = None, context: Mapping[str, Any] | None = None,
                   gas_limit: int | None = None, timeout: float | None = None,
                   access: Sequence[bytes] | None = None) -> Result:
        return await self.exchange(call_exchange(Op.CALL, code_id, function, args, input, context, gas_limit,
                                                 timeout, access))

    async def query(self, code_id: Target, function: str, args: Sequence[Number] | None = None, *,
                    input: bytes | None = None, context: Mapping[str, Any] | None = None,
                    gas_limit: int | None = None, timeout: float | None = None,
                    access: Sequence[bytes] | None = None) -> Result:
        return await self.exchange(call_exchange(Op.QUERY, code_id, function, args, input, context, gas_limit,
                                                 timeout, access))

    async def stats(self) -> dict[str, Any]:
        return await self.exchange(stats_exchange())

    async def state_get(self, code_id: Target, key: bytes) -> tuple[bytes | None, int]:
        return await self.exchange(state_get_exchange(code_id, key))

    async def instantiate(self, code_id: str, init_input: bytes = b"", *, salt: bytes = b"",
                          admin: bytes | None = None, caller: bytes = b"", gas_limit: int | None = None,
                          timeout: float | None = None) -> Instantiated:
        return await self.exchange(instantiate_exchange(code_id, init_input, salt, admin, caller, gas_limit,
                                                        timeout))

    async def migrate(self, address: Target, new_code_id: str, input: bytes = b"", *, caller: bytes = b"",
                      gas_limit: int | None = None, timeout: float | None = None) -> Result:
        return await self.exchange(migrate_exchange(address, new_code_id, input, caller, gas_limit, timeout))

    async def contract_info(self, address: Target) -> m.ContractInfo:
        return await self.exchange(contract_info_exchange(address))

    async def pin(self, code_id: str) -> m.PinReply:
        return await self.exchange(pin_exchange(Op.PIN, code_id))

    async def unpin(self, code_id: str) -> m.PinReply:
        return await self.exchange(pin_exchange(Op.UNPIN, code_id))

    async def execute_block(self, calls: Sequence[BlockCall | Mapping[str, Any]], *, dry_run: bool = False,
                            state_root: bytes | None = None, timeout: float | None = None) -> BlockResult:
        return await self.exchange(block_exchange(calls, dry_run, state_root, timeout))

    async def exchange(self, exchange: Exchange[_T]) -> _T:
        """Send an exchange's request and read its reply."""
        return exchange.read(await self.request(exchange.body))

    async def request(self, body: Mapping[str, Any], *, request_id: bytes | None = None) -> dict[str, Any]:
        """Send one request, retrying with the same id, and return the FINAL body (see Client.request)."""
        self._start_reader()
        rid = self._ids.next() if request_id is None else bytes(request_id)
        frames = p.encode(p.CLIENT_TAG, Command.REQUEST, rid, body)
        future: asyncio.Future[p.Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        wait = _wait_for(body, self.timeout)
        try:
            for _ in range(self.retries + 1):
                try:  # with no peer to send to (e.g. CURVE refused) the send itself waits
                    await asyncio.wait_for(self.socket.send_multipart(frames), wait)
                    return _answer(await asyncio.wait_for(asyncio.shield(future), wait))
                except TimeoutError:
                    continue
        finally:
            self._pending.pop(rid, None)
        raise errors.RequestTimeout(f"no answer from {self.endpoint} after {self.retries + 1} attempts "
                                    f"of {wait:.0f}s")

    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        """Hand every reply to the request waiting for its id (others are stale: dropped)."""
        while True:
            frames = await self.socket.recv_multipart()
            try:
                message = p.decode_reply(frames, self.limits)
            except errors.ProtocolError:
                continue
            future = self._pending.get(message.request_id)
            if future is not None and not future.done():
                future.set_result(message)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            self._reader = None
        self.socket.close(linger=0)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
