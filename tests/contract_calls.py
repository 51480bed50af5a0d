"""A stand-in for the platform's contract calls, to run Rust contracts that call contracts now.

Until the pool has contract instances and ``call_contract`` (issue 16), this
runs contracts in the real engine with the worker's real ABI v1 host, and
adds the v2 contract imports (``self_address``, ``call_contract``,
``return_data``, ``emit_event``, ``gas_left``) in Python with the issue's
semantics: a callee runs synchronously in its own instance and sees the
calling contract's address as ``caller()``; its writes and events join the
caller's buffer when it returns ok and are discarded otherwise; the
outermost call commits everything or nothing. It has no gas sharing, depth
limit or reentrancy check: it exists to test contracts, not the platform.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from wasmpool import wasm
from wasmpool.wire import errors
from wasmpool.worker.host import ENV, CallContext, CallState, Host, copy_out, read_bytes

GAS = 50_000_000
LIMIT = 1 << 20  # bytes any one argument may have here


class CallCode(IntEnum):
    """``call_contract``'s answers (issue 16's table)."""

    OK = 0
    REVERTED = 1
    TRAP = 2
    OUT_OF_GAS = 3
    ERROR = 4


@dataclass
class Outcome:
    """How one call ended, and what it produced."""

    code: CallCode
    results: list[Any] = field(default_factory=list)
    output: bytes = b""  # the output, or the revert message
    events: list[tuple[bytes, list[tuple[bytes, bytes]]]] = field(default_factory=list)


@dataclass
class Buffer:
    """A transaction's pending writes by contract, and its events."""

    writes: dict[bytes, dict[bytes, bytes | None]] = field(default_factory=dict)
    events: list[tuple[bytes, list[tuple[bytes, bytes]]]] = field(default_factory=list)

    def copy(self) -> Buffer:
        return Buffer({a: dict(w) for a, w in self.writes.items()}, list(self.events))


def classify(exc: BaseException) -> CallCode:
    """The code of a call that raised ``exc`` (or a cause of it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, errors.Revert):
            return CallCode.REVERTED
        if isinstance(seen, wasm.GasExhausted):
            return CallCode.OUT_OF_GAS
        if isinstance(seen, wasm.Trap):
            return CallCode.TRAP
        seen = seen.__cause__ or seen.__context__
    return CallCode.ERROR


def attributes(raw: bytes) -> list[tuple[bytes, bytes]]:
    """``emit_event``'s attributes: ``u32 key_len, key, u32 value_len, value`` repeated."""
    out, pos = [], 0
    while pos < len(raw):
        parts = []
        for _ in range(2):
            (size,) = struct.unpack_from("<I", raw, pos)
            parts.append(raw[pos + 4:pos + 4 + size])
            pos += 4 + size
        out.append((parts[0], parts[1]))
    return out


class Reader:
    """A contract's state as a call sees it: the transaction's pending writes, then committed state."""

    def __init__(self, platform: Platform, buffer: Buffer, address: bytes) -> None:
        self.platform, self.buffer, self.address = platform, buffer, address

    def get(self, key: bytes) -> bytes | None:
        pending = self.buffer.writes.get(self.address, {})
        if key in pending:
            return pending[key]
        return self.platform.state[self.address].get(key)


class Platform:
    """Contracts at addresses, their committed state, and calls between them."""

    def __init__(self) -> None:
        self.code: dict[bytes, wasm.CompiledModule] = {}
        self.state: dict[bytes, dict[bytes, bytes]] = {}

    def add(self, address: bytes, module: bytes) -> None:
        self.code[address] = wasm.compile(wasm.decode(module), metered=True)
        self.state[address] = {}

    def call(self, address: bytes, function: str, input: bytes = b"", caller: bytes = b"") -> Outcome:
        """An outermost call: it commits its buffer when it ends ok."""
        buffer = Buffer()
        outcome = self._frame(buffer, address, function, input, caller)
        if outcome.code is CallCode.OK:
            for target, writes in buffer.writes.items():
                for key, value in writes.items():
                    if value is None:
                        self.state[target].pop(key, None)
                    else:
                        self.state[target][key] = value
            outcome.events = buffer.events
        return outcome

    def _frame(self, buffer: Buffer, address: bytes, function: str, input: bytes, caller: bytes) -> Outcome:
        """Run one call; when it ends ok its writes join ``buffer`` (its callees' already have)."""
        if address not in self.code:
            return Outcome(CallCode.ERROR)
        host = Host()
        context = CallContext(caller=caller)
        call = CallState(reader=Reader(self, buffer, address), input=input, context=context)
        last = [b""]  # what return_data copies

        def self_address(c: Any, dst: int, cap: int) -> int:
            return int(copy_out(c, "self_address", dst, cap, address))

        def call_contract(c: Any, ap: int, al: int, fp: int, fl: int, ip: int, il: int, gas: int) -> int:
            target = read_bytes(c, "call_contract", ap, al, LIMIT)
            name = read_bytes(c, "call_contract", fp, fl, LIMIT).decode()
            data = read_bytes(c, "call_contract", ip, il, LIMIT)
            before = buffer.copy()
            outcome = self._frame(buffer, target, name, data, address)
            if outcome.code is not CallCode.OK:  # the callee's writes and events are discarded
                buffer.writes, buffer.events = before.writes, before.events
            last[0] = outcome.output
            return int(outcome.code)

        def return_data(c: Any, dst: int, cap: int) -> int:
            return int(copy_out(c, "return_data", dst, cap, last[0]))

        def emit_event(c: Any, tp: int, tl: int, ap: int, al: int) -> None:
            kind = read_bytes(c, "emit_event", tp, tl, LIMIT)
            buffer.events.append((kind, attributes(read_bytes(c, "emit_event", ap, al, LIMIT))))

        def gas_left(c: Any) -> int:
            return GAS

        v2 = {name: wasm.host(fn, caller=True) for name, fn in [
            ("self_address", self_address), ("call_contract", call_contract), ("return_data", return_data),
            ("emit_event", emit_event), ("gas_left", gas_left)]}
        imports = {ENV: {**host.imports()[ENV], **v2}}
        host.begin(call)
        try:
            instance = wasm.instantiate(self.code[address], imports=imports, gas_limit=GAS)
            results = instance.exports[function]()
        except BaseException as exc:  # every failure of the callee is the caller's to see
            code = classify(exc)
            message = str(exc.args[0]) if code is CallCode.REVERTED and exc.args else ""
            return Outcome(code, output=message.encode())
        finally:
            host.end()
        buffer.writes.setdefault(address, {}).update(call.writes)
        values = [] if results is None else list(results) if isinstance(results, (list, tuple)) else [results]
        return Outcome(CallCode.OK, values, call.output)
