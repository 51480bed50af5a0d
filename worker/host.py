"""The contract host ABI: the ``env`` imports a contract may call.

A contract is a wasm module that exports ``memory`` and functions; it talks
to the pool only through these host functions (see docs/abi.md and
examples/wasmpool.h). Every pointer is an i32 offset into the contract's
memory; a pointer/length pair that leaves memory traps, as does any breach
of :class:`HostLimits`.

State: reads go through a :class:`StateReader` (in a worker: a CALLBACK to
the broker, answered from committed state). Writes are buffered in the
:class:`CallState` and travel back with the result; a call reads its own
writes, and a key it read once reads the same for the rest of the call
(the broker's read set records exactly one version per key).

Calls between contracts: ``call_contract`` runs another contract's
function synchronously, inside the host function, on the engine's re-entry
support; every frame of one outermost call shares its
:class:`~wasmpool.worker.calls.Transaction` (writes of every namespace,
reads, events, logs, the journal that rolls a failed callee back).
:class:`CallState` is one frame; :attr:`Host.call` the frame running.

Gas: every host function costs a base price plus a price per byte it moves
(:data:`ABI` and :class:`HostGas`), charged through the caller's gas meter
before it does its work.

The :class:`Host` and its wrapped functions are built once per worker
process; each call gets a fresh :class:`CallState` through :meth:`Host.begin`
(a worker runs one call at a time), and each callee its own frame for as
long as it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from wasmpool import wasm
from wasmpool.wasm.types import PAGE_SIZE, FuncType, ValType
from wasmpool.wire import errors, prices
from wasmpool.wire import protocol as p
from wasmpool.worker import calls, host_crypto
from wasmpool.worker.calls import CallCode, Transaction
from wasmpool.worker.iteration import MAX_ITERATORS, IterationGas, Order, RangeReader, ScanIterator

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
ABSENT = -1
ENV = "env"


class HostGas(IntEnum):
    """Gas prices of host calls: a base price per call plus prices per byte."""

    TRIVIAL = 10  # input_len, block_height, block_time
    COPY = 20  # get_input, set_output, caller, revert
    LOG = 100
    EVENT = 800  # emit_event: measured (docs/abi.md, bench/engine/event_cost.py), above LOG
    GET_STATE = 200
    DELETE_STATE = 300
    PUT_STATE = 500
    BYTE = 1  # per byte copied between memory and the host
    STORED_BYTE = 5  # per byte of key and value written by put_state
    EVENT_BYTE = 2  # per byte of an event's type and attributes, on top of BYTE for copying them in
    CALL_CONTRACT = 1600  # call_contract: measured (docs/abi.md, bench/engine/call_cost.py), plus the callee
    RETURN_DATA = COPY  # return_data


@dataclass(frozen=True, slots=True)
class HostLimits:
    """Bounds on what one call may pass through the ABI."""

    key: int = 64 * 1024
    value: int = 128 * 1024
    output: int = 1024 * 1024
    log: int = 64 * 1024
    logs: int = 256
    writes: int = 4096
    events: int = 128  # events one call may emit
    event_bytes: int = 64 * 1024  # bytes of types, keys and values of all of a call's events
    event_type: int = 128  # bytes of one event's type
    event_attributes: int = 64  # attributes of one event
    call_input: int = 128 * 1024  # bytes of input one call_contract passes


DEFAULT_HOST_LIMITS = HostLimits()


@dataclass(frozen=True, slots=True)
class AbiFunction:
    """One ABI import: its wasm signature and base price."""

    type: FuncType
    gas: int  # a HostGas, or a host_crypto.CryptoGas for the crypto imports


def _sig(params: int, results: tuple[ValType, ...] = ()) -> FuncType:
    return FuncType(params=(ValType.I32,) * params, results=results)


I32 = (ValType.I32,)
I64 = (ValType.I64,)

ABI: dict[str, AbiFunction] = {
    "input_len": AbiFunction(_sig(0, I32), HostGas.TRIVIAL),
    "get_input": AbiFunction(_sig(2, I32), HostGas.COPY),
    "set_output": AbiFunction(_sig(2), HostGas.COPY),
    "get_state": AbiFunction(_sig(4, I32), HostGas.GET_STATE),
    "put_state": AbiFunction(_sig(4), HostGas.PUT_STATE),
    "delete_state": AbiFunction(_sig(2), HostGas.DELETE_STATE),
    "log": AbiFunction(_sig(2), HostGas.LOG),
    "revert": AbiFunction(_sig(2), HostGas.COPY),
    "caller": AbiFunction(_sig(2, I32), HostGas.COPY),
    "block_height": AbiFunction(_sig(0, I64), HostGas.TRIVIAL),
    "block_time": AbiFunction(_sig(0, I64), HostGas.TRIVIAL),
    "self_address": AbiFunction(_sig(2, I32), HostGas.COPY),  # v2: the contract's own 20-byte address
    "emit_event": AbiFunction(_sig(4), HostGas.EVENT),  # v2: a typed event with ordered attributes
    "gas_left": AbiFunction(_sig(0, I64), HostGas.TRIVIAL),  # v2: the gas this frame has left
    # v2: calls between contracts (worker.calls)
    "call_contract": AbiFunction(FuncType((ValType.I32,) * 6 + (ValType.I64,), I32), HostGas.CALL_CONTRACT),
    "return_data": AbiFunction(_sig(2, I32), HostGas.RETURN_DATA),
    # crypto (host_crypto): base prices here, per-word prices charged by the functions
    "sha256": AbiFunction(_sig(3), host_crypto.CryptoGas.SHA256),
    "keccak256": AbiFunction(_sig(3), host_crypto.CryptoGas.KECCAK256),
    "blake2b256": AbiFunction(_sig(3), host_crypto.CryptoGas.BLAKE2B256),
    "ed25519_verify": AbiFunction(_sig(4, I32), host_crypto.CryptoGas.ED25519_VERIFY),
    "secp256k1_verify": AbiFunction(_sig(4, I32), host_crypto.CryptoGas.SECP256K1_VERIFY),
    "secp256k1_recover": AbiFunction(_sig(4, I32), host_crypto.CryptoGas.SECP256K1_RECOVER),
    "state_scan": AbiFunction(_sig(5, I32), IterationGas.STATE_SCAN),  # iteration: worker.iteration
    "state_next": AbiFunction(_sig(6, I32), IterationGas.STATE_NEXT),
}
"""The host ABI, by import name."""

NULLARY = FuncType((), ())
"""The type of a function ``call_contract`` may call."""

Event = tuple[bytes, list[tuple[bytes, bytes]]] | tuple[bytes, list[tuple[bytes, bytes]], bytes]
"""An event: its type and its attributes (key, value) in the order the contract gave them; a callee's
also the emitter's address."""


class StateReader(Protocol):
    """Committed state of the called contract, one key at a time.

    A reader that also serves calls between contracts has ``get_in(space,
    key)`` (another namespace) and ``scan(..., space=)``
    (:class:`~wasmpool.worker.calls.SpaceReader` uses them).
    """

    def get(self, key: bytes) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who calls and when: what ``caller``, ``block_height`` and ``block_time`` return."""

    caller: bytes = b""
    height: int = 0
    time: int = 0


@dataclass(slots=True)
class CallState:
    """One contract frame: its inputs and what it produced (output, and through its transaction: logs,
    events, buffered writes).

    ``writes`` and ``seen`` are its namespace's (``space``) in the
    transaction; ``logs`` and ``events`` the transaction's. The outermost
    frame makes the transaction; a callee's frame is given it
    (``transaction``).
    """

    reader: StateReader
    input: bytes = b""
    context: CallContext = CallContext()
    readonly: bool = False
    output: bytes = b""
    logs: list[bytes] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # emit_event's, in order
    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    seen: dict[bytes, bytes | None] = field(default_factory=dict)
    iterators: list[ScanIterator] = field(default_factory=list)  # state_scan's, by id
    address: bytes = b""  # the contract's address (self_address); empty for a legacy call (a code id)
    space: str = ""  # the namespace it reads and writes (its address in hex, or its code id)
    return_data: bytes = b""  # the last callee's output or revert message (return_data)
    revert_data: bytes = b""  # the message this frame reverted with, as bytes
    transaction: InitVar[Transaction | None] = None
    tx: Transaction = field(init=False)

    def __post_init__(self, transaction: Transaction | None) -> None:
        if transaction is None:  # the outermost frame
            transaction = Transaction(self.reader, self.space, self.readonly, events=self.events,
                                      logs=self.logs)
            transaction.writes[self.space] = self.writes
            transaction.seen[self.space] = self.seen
            if self.address:
                transaction.stack.append(self.address)
        else:
            self.writes = transaction.space_writes(self.space)
            self.seen = transaction.space_seen(self.space)
            self.logs, self.events = transaction.logs, transaction.events
        self.tx = transaction

    def read(self, key: bytes) -> bytes | None:
        """The key's value as this call sees it: its own write, else one committed read."""
        if key in self.writes:
            return self.writes[key]
        if key not in self.seen:
            self.seen[key] = self.reader.get(key)
        return self.seen[key]


def check_imports(module: wasm.Module) -> None:
    """Raise LinkError unless every ``env`` import is an ABI function with its exact type."""
    types = module.types
    for imp in module.imports:
        if imp.module != ENV:
            continue
        abi = ABI.get(imp.name)
        if abi is None:
            raise wasm.LinkError(f"env.{imp.name} is not a function of the host ABI v1")
        if not isinstance(imp.desc, int) or types[imp.desc] != abi.type:
            raise wasm.LinkError(f"env.{imp.name} must be imported as a function {abi.type}")


class Host:
    """The ABI functions of one worker process; :meth:`begin` points them at a call, ``call_contract`` at
    each callee's frame while it runs."""

    def __init__(self, limits: HostLimits = DEFAULT_HOST_LIMITS) -> None:
        self.limits = limits
        self.call: CallState | None = None
        self.functions: dict[str, Any] = {name: wasm.host(self._entry(name), caller=True) for name in ABI}

    def imports(self) -> dict[str, dict[str, Any]]:
        """The import object for ``wasm.instantiate``."""
        return {ENV: self.functions}

    def begin(self, call: CallState) -> None:
        self.call = call

    def end(self) -> None:
        self.call = None

    def _entry(self, name: str) -> Callable[..., Any]:
        """The method implementing ``name``, behind the check that a call is running."""
        method: Callable[..., Any] = getattr(self, f"_{name}")
        gas = ABI[name].gas

        def entry(caller: Any, *args: int) -> Any:
            charge(caller, gas)
            return method(caller, self._current(name), *args)

        entry.__name__ = name
        return entry

    def _current(self, name: str) -> CallState:
        if self.call is None:
            raise wasm.Trap(wasm.TrapKind.HOST, f"{name}: host function called outside a contract call")
        return self.call

    # --- the ABI: each takes (caller, call, *wasm arguments) ------------------

    def _input_len(self, caller: Any, call: CallState) -> int:
        return len(call.input)

    def _self_address(self, caller: Any, call: CallState, dst: int, cap: int) -> int:
        """The contract's 20-byte address; length 0 for a legacy call, which names a code, not a contract."""
        return copy_out(caller, "self_address", dst, cap, call.address)

    def _get_input(self, caller: Any, call: CallState, dst: int, cap: int) -> int:
        return copy_out(caller, "get_input", dst, cap, call.input)

    def _set_output(self, caller: Any, call: CallState, ptr: int, length: int) -> None:
        call.output = read_bytes(caller, "set_output", ptr, length, self.limits.output)

    def _get_state(self, caller: Any, call: CallState, key_ptr: int, key_len: int, dst: int, cap: int) -> int:
        _span(caller, "get_state", dst, cap)  # checked whether or not the key exists
        value = call.read(read_bytes(caller, "get_state", key_ptr, key_len, self.limits.key))
        return ABSENT if value is None else copy_out(caller, "get_state", dst, cap, value)

    def _put_state(self, caller: Any, call: CallState, key_ptr: int, key_len: int, val_ptr: int,
                   val_len: int) -> None:
        key = read_bytes(caller, "put_state", key_ptr, key_len, self.limits.key)
        value = read_bytes(caller, "put_state", val_ptr, val_len, self.limits.value)
        charge(caller, HostGas.STORED_BYTE * (len(key) + len(value)))
        self._write(call, "put_state", key, value)

    def _delete_state(self, caller: Any, call: CallState, key_ptr: int, key_len: int) -> None:
        key = read_bytes(caller, "delete_state", key_ptr, key_len, self.limits.key)
        self._write(call, "delete_state", key, None)

    def _write(self, call: CallState, name: str, key: bytes, value: bytes | None) -> None:
        if call.readonly:
            raise errors.ReadOnlyViolation(f"{name}: a read-only query cannot write state")
        tx = call.tx
        if key not in call.writes and tx.written() >= self.limits.writes:
            raise _trap(f"{name}: more than {self.limits.writes} keys written in one call")
        tx.write(call.space, key, value)

    def _state_scan(self, caller: Any, call: CallState, start_ptr: int, start_len: int, end_ptr: int,
                    end_len: int, order: int) -> int:
        if order not in (Order.ASCENDING, Order.DESCENDING):
            raise _trap(f"state_scan: order must be 0 (ascending) or 1 (descending), not {order}")
        if len(call.iterators) >= MAX_ITERATORS:
            raise _trap(f"state_scan: more than {MAX_ITERATORS} iterators in one call")
        start = read_bytes(caller, "state_scan", start_ptr, start_len, self.limits.key)
        end = read_bytes(caller, "state_scan", end_ptr, end_len, self.limits.key)
        reader = call.reader
        if not hasattr(reader, "scan"):
            raise _trap("state_scan: this call's state cannot be read in key ranges")
        ranged: RangeReader = reader  # type: ignore[assignment]
        call.iterators.append(ScanIterator(ranged, start, end, Order(order), call.writes, call.seen))
        return len(call.iterators) - 1

    def _state_next(self, caller: Any, call: CallState, iterator: int, key_dst: int, key_cap: int,
                    val_dst: int, val_cap: int, lens_dst: int) -> int:
        if not 0 <= iterator < len(call.iterators):
            raise _trap(f"state_next: no iterator {iterator} in this call")
        _span(caller, "state_next", key_dst, key_cap)  # checked before anything is read or copied
        _span(caller, "state_next", val_dst, val_cap)
        memory, lens_dst, _ = _span(caller, "state_next", lens_dst, 8)
        entry = call.iterators[iterator].next()
        if entry is None:
            return 0
        key, value = entry
        charge(caller, IterationGas.SCANNED_BYTE * (len(key) + len(value)))
        copy_out(caller, "state_next", key_dst, key_cap, key)
        copy_out(caller, "state_next", val_dst, val_cap, value)
        memory.write(lens_dst, len(key).to_bytes(4, "little") + len(value).to_bytes(4, "little"))
        return 1

    def _log(self, caller: Any, call: CallState, ptr: int, length: int) -> None:
        if len(call.logs) >= self.limits.logs:
            raise _trap(f"log: more than {self.limits.logs} log entries in one call")
        call.logs.append(read_bytes(caller, "log", ptr, length, self.limits.log))

    def _emit_event(self, caller: Any, call: CallState, type_ptr: int, type_len: int, attrs_ptr: int,
                    attrs_len: int) -> None:
        """Append an event; its attributes are ``u32 key_len, key, u32 value_len, value`` repeated (LE)."""
        limits = self.limits
        if len(call.events) >= limits.events:
            raise _trap(f"emit_event: more than {limits.events} events in one call")
        kind = read_bytes(caller, "emit_event", type_ptr, type_len, limits.event_type)
        tx = call.tx
        room = limits.event_bytes - tx.event_bytes - len(kind)  # bytes left for keys and values
        if room < 0:
            raise _trap(f"emit_event: the call's events exceed {limits.event_bytes} bytes")
        raw = read_bytes(caller, "emit_event", attrs_ptr, attrs_len, room + 8 * limits.event_attributes)
        attributes = parse_attributes(raw, limits.event_attributes)
        size = len(kind) + sum(len(key) + len(value) for key, value in attributes)
        if tx.event_bytes + size > limits.event_bytes:
            raise _trap(f"emit_event: the call's events exceed {limits.event_bytes} bytes")
        charge(caller, HostGas.EVENT_BYTE * size)
        tx.event_bytes += size
        call.events.append((kind, attributes) if call.space == tx.root else (kind, attributes, call.address))

    def _gas_left(self, caller: Any, call: CallState) -> int:
        """The gas this frame's meter has left after this call's own price (none metered: 0)."""
        meter = getattr(caller, "gas", None)
        return 0 if meter is None else int(meter.remaining)

    def _revert(self, caller: Any, call: CallState, ptr: int, length: int) -> None:
        message = call.revert_data = read_bytes(caller, "revert", ptr, length, self.limits.output)
        raise errors.Revert(message.decode("utf-8", "replace") or "reverted")

    def _caller(self, caller: Any, call: CallState, dst: int, cap: int) -> int:
        return copy_out(caller, "caller", dst, cap, call.context.caller)

    def _block_height(self, caller: Any, call: CallState) -> int:
        return signed64(call.context.height)

    def _block_time(self, caller: Any, call: CallState) -> int:
        return signed64(call.context.time)

    # --- calls between contracts (worker.calls) --------------------------------------------------

    def _call_contract(self, caller: Any, call: CallState, addr_ptr: int, addr_len: int, fn_ptr: int,
                       fn_len: int, in_ptr: int, in_len: int, gas: int) -> int:
        """Run ``fn`` of the contract at ``addr`` with the input; the :class:`CallCode` of its outcome."""
        name = "call_contract"
        address = read_bytes(caller, name, addr_ptr, addr_len, self.limits.key)
        function = read_bytes(caller, name, fn_ptr, fn_len, calls.MAX_FUNCTION_NAME)
        data = read_bytes(caller, name, in_ptr, in_len, self.limits.call_input)
        call.return_data = b""
        tx = call.tx
        if not call.address or len(tx.stack) >= calls.MAX_CALL_DEPTH or address in tx.stack:
            return CallCode.ERROR  # a legacy caller (no contract), too deep, or reentrant
        code_id = tx.code_id(address) if len(address) == p.ADDRESS_SIZE else None
        if code_id is None or tx.modules is None:
            return CallCode.ERROR
        cap = _gas_cap(caller, gas)
        frame = CallState(calls.SpaceReader(tx.reader, address.hex()), data,
                          CallContext(call.address, call.context.height, call.context.time), call.readonly,
                          address=address, space=address.hex(), transaction=tx)
        code, used = self._run_callee(call, frame, code_id, function, cap)
        charge(caller, used)
        if code is CallCode.OK:
            call.return_data = frame.output
        elif code is CallCode.REVERTED:
            call.return_data = frame.revert_data
        return code

    def _run_callee(self, call: CallState, frame: CallState, code_id: str, function: bytes,
                    cap: int) -> tuple[CallCode, int]:
        """Run a callee's frame under ``cap`` gas; its code and the gas it used (its module's load included).

        A failure with no code (state unavailable, a time limit, ...) propagates: it ends the transaction.
        """
        tx = call.tx
        assert tx.modules is not None
        loaded = tx.modules(code_id)
        load = prices.load_gas(loaded.size)
        if load > cap:
            return CallCode.OUT_OF_GAS, cap
        mark = tx.checkpoint()
        tx.stack.append(frame.address)
        self.call = frame
        instance = None
        try:
            compiled = loaded.runnable()
            instance = wasm.instantiate(compiled, imports=self.imports(), gas_limit=cap - load,
                                        canonical_nans=compiled.canonical_nans)
            _nullary(instance, function)()
            code = CallCode.OK
        except Exception as exc:
            found = calls.call_code(exc)
            if found is None:
                raise
            code = found
        finally:
            self.call = call
            tx.stack.pop()
            used = load + (0 if instance is None else instance.gas_used)
            if instance is not None:
                instance.release()
        if code is not CallCode.OK:
            tx.rollback(mark)
        tx.settle()
        return code, cap if code is CallCode.OUT_OF_GAS else min(used, cap)

    def _return_data(self, caller: Any, call: CallState, dst: int, cap: int) -> int:
        """Copy the last callee's output (or revert message); its full length (0 before any call)."""
        return copy_out(caller, "return_data", dst, cap, call.return_data)

    # --- crypto (host_crypto): every span is checked before any price per word or any work ---

    def _hash(self, caller: Any, name: str, ptr: int, length: int, dst: int) -> None:
        digest, word_gas = host_crypto.DIGESTS[name]
        out, dst, _ = _span(caller, name, dst, host_crypto.DIGEST_SIZE)
        memory, ptr, length = _span(caller, name, ptr, length)
        charge(caller, word_gas * host_crypto.words(length))
        out.write(dst, digest(bytes(memory.read(ptr, length))))

    def _sha256(self, caller: Any, call: CallState, ptr: int, length: int, dst: int) -> None:
        self._hash(caller, "sha256", ptr, length, dst)

    def _keccak256(self, caller: Any, call: CallState, ptr: int, length: int, dst: int) -> None:
        self._hash(caller, "keccak256", ptr, length, dst)

    def _blake2b256(self, caller: Any, call: CallState, ptr: int, length: int, dst: int) -> None:
        self._hash(caller, "blake2b256", ptr, length, dst)

    def _ed25519_verify(self, caller: Any, call: CallState, msg_ptr: int, msg_len: int, sig_ptr: int,
                        pk_ptr: int) -> int:
        name = "ed25519_verify"
        signature = _fixed(caller, name, sig_ptr, host_crypto.ED25519_SIGNATURE)
        key = _fixed(caller, name, pk_ptr, host_crypto.ED25519_KEY)
        memory, msg_ptr, msg_len = _span(caller, name, msg_ptr, msg_len)
        charge(caller, host_crypto.CryptoGas.ED25519_VERIFY_WORD * host_crypto.words(msg_len))
        message = bytes(memory.read(msg_ptr, msg_len))
        return int(host_crypto.ed25519_verify(message, signature, key))

    def _secp256k1_verify(self, caller: Any, call: CallState, hash_ptr: int, sig_ptr: int, pk_ptr: int,
                          pk_len: int) -> int:
        name = "secp256k1_verify"
        digest = _fixed(caller, name, hash_ptr, host_crypto.SECP256K1_HASH)
        signature = _fixed(caller, name, sig_ptr, host_crypto.SECP256K1_SIGNATURE)
        memory, pk_ptr, pk_len = _span(caller, name, pk_ptr, pk_len)
        if pk_len not in host_crypto.SECP256K1_KEYS:
            return 0
        return int(host_crypto.secp256k1_verify(digest, signature, bytes(memory.read(pk_ptr, pk_len))))

    def _secp256k1_recover(self, caller: Any, call: CallState, hash_ptr: int, sig_ptr: int, recid: int,
                           dst: int) -> int:
        name = "secp256k1_recover"
        digest = _fixed(caller, name, hash_ptr, host_crypto.SECP256K1_HASH)
        signature = _fixed(caller, name, sig_ptr, host_crypto.SECP256K1_SIGNATURE)
        out, dst, _ = _span(caller, name, dst, host_crypto.SECP256K1_RECOVERED_KEY)
        key = host_crypto.secp256k1_recover(digest, signature, recid & MASK32)
        if key is None:
            return ABSENT
        out.write(dst, key)
        return 0


def _nullary(instance: Any, function: bytes) -> Any:
    """The export ``function`` of a callee's instance, if it is a function of type () -> () (else BadCall)."""
    try:
        name = function.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.BadCall("the function name is not UTF-8") from None
    export = instance.exports.get(name)
    if getattr(export, "type", None) != NULLARY:
        raise errors.BadCall(f"the contract exports no function {name!r} of type () -> ()")
    return export


def _gas_cap(caller: Any, gas: int) -> int:
    """What a callee may use: ``gas`` (unsigned), 0 or more than the caller has left meaning all it has."""
    meter = getattr(caller, "gas", None)
    left = MASK64 if meter is None else max(int(meter.remaining), 0)
    gas &= MASK64
    return left if gas == 0 or gas > left else gas


def parse_attributes(raw: bytes, most: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of an event's attribute buffer; a malformed one traps, saying where."""
    attributes: list[tuple[bytes, bytes]] = []
    at, end = 0, len(raw)
    while at < end:
        if len(attributes) >= most:
            raise _trap(f"emit_event: more than {most} attributes in one event")
        pair: list[bytes] = []
        for part in ("key", "value"):
            if at + 4 > end:
                raise _trap(f"emit_event: attribute {len(attributes)}: the {part} length at byte {at} "
                            f"is cut off by the end of the {end}-byte buffer")
            length = int.from_bytes(raw[at:at + 4], "little")
            at += 4
            if at + length > end:
                raise _trap(f"emit_event: attribute {len(attributes)}: a {part} of {length} bytes at byte "
                            f"{at} runs past the end of the {end}-byte buffer")
            pair.append(raw[at:at + length])
            at += length
        attributes.append((pair[0], pair[1]))
    return attributes


def signed64(value: int) -> int:
    """An i64 result as a signed Python int (the context may carry it unsigned)."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def _trap(message: str) -> wasm.Trap:
    return wasm.Trap(wasm.TrapKind.HOST, message)


def charge(caller: Any, amount: int) -> None:
    """Charge gas through the caller's meter (no meter: an unmetered call)."""
    meter = getattr(caller, "gas", None)
    if meter is not None and amount:
        meter.charge(amount)


def _span(caller: Any, name: str, ptr: int, length: int) -> tuple[Any, int, int]:
    """The caller's memory and the checked range [ptr, ptr + length) (unsigned i32 arguments)."""
    memory = getattr(caller, "memory", None)
    if memory is None:
        raise wasm.Trap(wasm.TrapKind.HOST, f"{name}: the contract has no memory")
    ptr, length = ptr & MASK32, length & MASK32
    size = memory.size * PAGE_SIZE
    if ptr + length > size:
        raise wasm.Trap(wasm.TrapKind.OUT_OF_BOUNDS_MEMORY,
                        f"{name}: bytes [{ptr}, {ptr + length}) are outside memory of {size} bytes")
    return memory, ptr, length


def _fixed(caller: Any, name: str, ptr: int, length: int) -> bytes:
    """The ``length`` bytes at ``ptr`` (a fixed-size crypto argument, paid by the function's base price)."""
    memory, ptr, length = _span(caller, name, ptr, length)
    return bytes(memory.read(ptr, length))


def read_bytes(caller: Any, name: str, ptr: int, length: int, limit: int) -> bytes:
    """Copy ``length`` bytes out of the contract's memory (charged per byte, bounded by ``limit``)."""
    if length & MASK32 > limit:
        raise _trap(f"{name}: {length & MASK32} bytes exceed the limit of {limit}")
    memory, ptr, length = _span(caller, name, ptr, length)
    charge(caller, HostGas.BYTE * length)
    return bytes(memory.read(ptr, length))


def copy_out(caller: Any, name: str, dst: int, cap: int, data: bytes) -> int:
    """Copy min(len(data), cap) bytes into memory at ``dst``; returns len(data)."""
    memory, dst, cap = _span(caller, name, dst, cap)
    chunk = data[:cap]
    charge(caller, HostGas.BYTE * len(chunk))
    if chunk:
        memory.write(dst, chunk)
    return len(data)
