"""call_contract and return_data on the real engine, in process (the worker side of calls between contracts).

Each test runs :func:`execute` on a job of ``fixtures/proxy.wat`` (a contract
whose input lists the calls to make, see its header) over a dict-backed
state of several namespaces and the contract registry; the callees are
``fixtures/callee.wat`` and more proxies.
"""

from __future__ import annotations

import signal
import struct
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from wasmpool import wasm
from wasmpool.wire import errors, prices
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import ErrorCode, Status
from wasmpool.worker import calls, host, timelimit
from wasmpool.worker.execute import Runtime, execute, execute_chunk
from wasmpool.worker.host import ABI, Host, HostGas
from wasmpool.worker.modules import Loaded, load
from wasmpool.worker.readers import UNWRITTEN, BrokerState, ChunkState, Question, Reply

FIXTURES = Path(__file__).parent / "fixtures"
GAS = 50_000_000
OK, REVERTED, TRAP, OUT_OF_GAS, ERROR = (int(code) for code in calls.CallCode)


@cache
def module(name: str) -> Loaded:
    return load((FIXTURES / name).read_bytes())


def code_id(name: str) -> str:
    return p.code_id((FIXTURES / name).read_bytes())


def address(n: int) -> bytes:
    return bytes([n]) * p.ADDRESS_SIZE


A, B, C = address(0xA), address(0xB), address(0xC)
NOWHERE = address(0xEE)


class World:
    """Committed state of every namespace and the registry; a reader of it records every read by location."""

    def __init__(self) -> None:
        self.state: dict[str, dict[bytes, bytes]] = {p.REGISTRY_SPACE: {}}
        self.reads: list[tuple[str, bytes]] = []
        self.broken: set[str] = set()  # namespaces whose reads fail (the broker is away)
        self.fetched: list[tuple[str, bool]] = []  # modules asked for: (code id, for a callee)

    def deploy(self, where: bytes, name: str) -> bytes:
        record = p.pack({"code_id": code_id(name), "admin": b"", "creator": b"", "salt": b"", "changes": []})
        self.state[p.REGISTRY_SPACE][where] = record
        return where

    def get_in(self, space: str, key: bytes) -> bytes | None:
        if space in self.broken:
            raise errors.StateUnavailable(f"no answer for {space}")
        self.reads.append((space, key))
        return self.state.get(space, {}).get(key)

    def scan(self, start: bytes, end: bytes, order: int, limit: int,
             space: str) -> tuple[list[list[bytes]], bool]:
        entries = sorted([k, v] for k, v in self.state.get(space, {}).items()
                         if start <= k and (not end or k < end))
        if order == 1:
            entries.reverse()
        return entries[:limit], len(entries) > limit

    def modules(self, wanted: str, index: int | None, called: bool = False) -> Loaded:
        self.fetched.append((wanted, called))
        for name in ("proxy.wasm", "callee.wasm", "bad_import.wasm"):
            if code_id(name) == wanted:
                return module(name)
        raise errors.StateUnavailable(f"no module {wanted}")


class Reader:
    """The job's reader: its own namespace by ``get``, any other by ``get_in`` (the wire's ``space``)."""

    def __init__(self, world: World, own: str) -> None:
        self.world, self.own = world, own

    def get(self, key: bytes) -> bytes | None:
        return self.world.get_in(self.own, key)

    def get_in(self, space: str, key: bytes) -> bytes | None:
        assert space != self.own, "the job's own namespace is read by get"
        return self.world.get_in(space, key)

    def scan(self, start: bytes, end: bytes, order: int, limit: int,
             space: str | None = None) -> tuple[list[list[bytes]], bool]:
        return self.world.scan(start, end, order, limit, self.own if space is None else space)


def record(where: bytes, function: str, inner: bytes = b"", gas: int = 0, cap: int = 4096) -> bytes:
    """One call of the proxy's input (see proxy.wat)."""
    name = function.encode()
    return where + struct.pack("<I", len(name)) + name + struct.pack("<QII", gas, cap, len(inner)) + inner


def store(key: bytes, value: bytes) -> bytes:
    """callee.wat's store input."""
    return struct.pack("<I", len(key)) + key + value


def outcomes(output: bytes, caps: list[int] | None = None) -> list[tuple[int, int, bytes]]:
    """The proxy's output: (code, return_data's full length, the bytes copied) per call."""
    found, at = [], 0
    while at < len(output):
        code, length = struct.unpack_from("<iI", output, at)
        cap = caps[len(found)] if caps else 4096
        copied = output[at + 8:at + 8 + min(length, cap)]
        found.append((code, length, copied))
        at += 8 + len(copied)
    return found


def codes_of(output: bytes) -> list[int]:
    return [code for code, _, _ in outcomes(output)]


def job(where: bytes, data: bytes, function: str = "run_and_write", **fields: Any) -> dict[str, Any]:
    body = {"code_id": code_id("proxy.wasm"), "function": function, "args": [], "input": data,
            "context": {"height": 7, "time": 1234}, "gas_limit": GAS, "timeout": 30.0, "readonly": False,
            "address": where}
    body.update(fields)
    return body


def run(world: World, body: dict[str, Any], runtime: Runtime | None = None) -> m.CallResult:
    own = body["address"].hex() if body.get("address") else body["code_id"]
    return execute(body, Reader(world, own), world.modules, runtime or Runtime.of(Host()))


@pytest.fixture
def world() -> World:
    w = World()
    w.deploy(A, "proxy.wasm")
    w.deploy(B, "callee.wasm")
    w.deploy(C, "proxy.wasm")
    return w


def test_the_abi_has_call_contract_and_return_data_with_their_signatures() -> None:
    assert ABI["call_contract"].type == wasm.FuncType((wasm.ValType.I32,) * 6 + (wasm.ValType.I64,),
                                                      (wasm.ValType.I32,))
    assert ABI["return_data"].type == wasm.FuncType((wasm.ValType.I32,) * 2, (wasm.ValType.I32,))
    assert ABI["call_contract"].gas == HostGas.CALL_CONTRACT and HostGas.RETURN_DATA == HostGas.COPY


def test_a_successful_call_joins_the_callees_writes_events_and_output_to_the_callers(world: World) -> None:
    result = run(world, job(A, record(B, "store", store(b"k", b"value"))))
    assert (result.status, result.code) == (Status.OK, ErrorCode.OK), result.error
    assert outcomes(result.output) == [(OK, 5, b"value")]
    assert result.writes == {b"out": result.output}  # the caller's own namespace
    assert result.nested_writes == [[B.hex(), b"k", b"value"]]
    assert result.events == [[b"stored", [[b"k", b"value"]], B]]  # a callee's event names its emitter
    assert result.logs == [b"store"]
    assert (p.REGISTRY_SPACE, B) in world.reads  # the code lookup is in the read set
    assert world.fetched == [(code_id("proxy.wasm"), False), (code_id("callee.wasm"), True)]


@pytest.mark.parametrize(("function", "gas", "code", "data"), [
    ("store_then_revert", 0, REVERTED, b"nope"),
    ("store_then_trap", 0, TRAP, b""),
    ("store_then_spin", 200_000, OUT_OF_GAS, b""),
    ("missing", 0, ERROR, b""),
    ("takes_an_argument", 0, ERROR, b""),
], ids=["revert", "trap", "out-of-gas", "missing-export", "export-with-parameters"])
def test_a_failed_call_returns_its_code_discards_its_effects_and_the_caller_goes_on(
        world: World, function: str, gas: int, code: int, data: bytes) -> None:
    calls_ = record(B, function, store(b"lost", b"x"), gas=gas) + record(B, "store", store(b"kept", b"y"))
    result = run(world, job(A, calls_))
    assert (result.status, result.code) == (Status.OK, ErrorCode.OK), result.error
    assert outcomes(result.output) == [(code, len(data), data), (OK, 1, b"y")]
    assert result.nested_writes == [[B.hex(), b"kept", b"y"]]
    assert result.events == [[b"stored", [[b"kept", b"y"]], B]]
    assert b"out" in result.writes
    assert world.reads.count((p.REGISTRY_SPACE, B)) == 1  # the code lookup is made once per transaction


def test_a_callee_whose_module_cannot_link_returns_4(world: World) -> None:
    world.deploy(NOWHERE, "bad_import.wasm")
    result = run(world, job(A, record(NOWHERE, "run") + record(B, "nothing")))
    assert codes_of(result.output) == [ERROR, OK]


def test_return_data_is_the_last_calls_and_empty_after_a_refused_one(world: World) -> None:
    data = record(B, "store", store(b"k", b"v")) + record(NOWHERE, "nothing") + record(B, "store_then_trap")
    result = run(world, job(A, data))
    assert outcomes(result.output) == [(OK, 1, b"v"), (ERROR, 0, b""), (TRAP, 0, b"")]


@pytest.mark.parametrize(("exc", "code"), [
    (errors.Revert("x"), calls.CallCode.REVERTED),
    (wasm.GasExhausted(), calls.CallCode.OUT_OF_GAS),
    (wasm.StackExhausted("deep"), calls.CallCode.TRAP),
    (wasm.Trap(wasm.TrapKind.UNREACHABLE, "x"), calls.CallCode.TRAP),
    (errors.ReadOnlyViolation("x"), calls.CallCode.TRAP),
    (wasm.LinkError("x"), calls.CallCode.ERROR),
    (errors.StateUnavailable("x"), None),
    (errors.CallTimeout("x"), None),
    (errors.InternalError("x"), None),
    (MemoryError(), None),
    (ValueError("a bug"), None),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_only_the_contracts_own_failures_are_codes(exc: BaseException, code: calls.CallCode | None) -> None:
    assert calls.call_code(exc) == code


def test_calling_an_unknown_contract_returns_4_and_its_registry_read_counts(world: World) -> None:
    result = run(world, job(A, record(NOWHERE, "store", store(b"k", b"v"))))
    assert codes_of(result.output) == [ERROR] and result.nested_writes == []
    assert (p.REGISTRY_SPACE, NOWHERE) in world.reads


def test_a_failed_callee_rolls_back_the_writes_of_its_own_successful_callees(world: World) -> None:
    stored = record(B, "store", store(b"deep", b"1"))
    result = run(world, job(A, record(C, "run_and_write", stored) + record(B, "read", b"deep")))
    first, second = outcomes(result.output)
    assert first[0] == OK and second == (OK, 5, struct.pack("<i", 1) + b"1")
    # namespaces in the order their contracts were first entered (C, then B), keys in first-write order
    assert result.nested_writes == [[C.hex(), b"out", first[2]], [B.hex(), b"deep", b"1"]]
    # C's callee B spins through all C has left, so C runs out of gas after B's successful store
    spun = stored + record(B, "store_then_spin", store(b"x", b"y"))
    failed = run(world, job(A, record(C, "run_and_write", spun, gas=1_000_000) + record(B, "read", b"deep")))
    (code, _, _), (_, _, read) = outcomes(failed.output)
    assert code == OUT_OF_GAS and read == struct.pack("<i", -1)  # B's write, made under C, is gone
    assert failed.nested_writes == [] and failed.events == []


def test_return_data_is_empty_before_any_call(world: World) -> None:
    result = run(world, job(A, b"", function="return_data_len"))
    assert result.output == struct.pack("<I", 0)


def test_return_data_copies_at_most_its_cap_and_returns_the_full_length(world: World) -> None:
    result = run(world, job(A, record(B, "store", store(b"k", b"hello"), cap=2)))
    assert outcomes(result.output, [2]) == [(OK, 5, b"he")]


def gas_of(world: World, data: bytes, function: str = "run", host_: Host | None = None) -> int:
    result = run(world, job(A, data, function=function), Runtime.of(host_ or Host()))
    assert result.status == Status.OK, result.error
    return result.gas_used


def test_the_caller_pays_what_the_callee_used_on_top_of_the_base_price(world: World) -> None:
    called = gas_of(world, record(B, "nothing"))
    refused = gas_of(world, record(NOWHERE, "nothing"))  # the same copies and base price, no callee
    alone = execute(dict(job(B, b"", function="nothing"), code_id=code_id("callee.wasm")),
                    Reader(world, B.hex()), world.modules, Runtime.of(Host()))
    assert called - refused == alone.gas_used  # the callee's load price and its own gas


def test_the_base_price_is_charged_per_call(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    before = gas_of(world, record(B, "nothing") * 3)
    monkeypatch.setitem(ABI, "call_contract", replace(ABI["call_contract"], gas=HostGas.CALL_CONTRACT + 1000))
    assert gas_of(world, record(B, "nothing") * 3, host_=Host()) - before == 3000


def test_the_cap_bounds_the_callee_and_is_what_the_caller_pays_when_it_runs_out(world: World) -> None:
    small = gas_of(world, record(B, "store_then_spin", store(b"k", b"v"), gas=100_000))
    large = gas_of(world, record(B, "store_then_spin", store(b"k", b"v"), gas=150_000))
    assert large - small == 50_000


def gas_left_of_callee(world: World, gas: int) -> int:
    result = run(world, job(A, record(B, "gas", gas=gas), function="run"))
    [(code, _, data)] = outcomes(result.output)
    assert code == OK
    left: int = struct.unpack("<Q", data)[0]
    return left


def test_gas_0_or_more_than_is_left_means_all_that_is_left(world: World) -> None:
    everything = gas_left_of_callee(world, 0)
    assert everything == gas_left_of_callee(world, (1 << 64) - 1) == gas_left_of_callee(world, GAS * 2)
    assert everything > GAS - 100_000
    load = prices.load_gas(module("callee.wasm").size)
    assert gas_left_of_callee(world, 100_000) < 100_000 - load  # the callee pays its load price in its cap


def test_a_cap_below_the_callees_load_price_is_out_of_gas(world: World) -> None:
    load = prices.load_gas(module("callee.wasm").size)
    result = run(world, job(A, record(B, "nothing", gas=load - 1)))
    assert codes_of(result.output) == [OUT_OF_GAS]


def chain(addresses: list[bytes], last: bytes, function: str = "store",
          inner: bytes = store(b"k", b"deep")) -> bytes:
    """The root proxy's input: each proxy of ``addresses`` calls the next, the last one calls ``function``
    of ``last`` with ``inner``."""
    data = record(last, function, inner)
    for where in reversed(addresses):
        data = record(where, "run", data, cap=65536)
    return data


def innermost(output: bytes) -> int:
    while True:
        [(code, _, data)] = outcomes(output, [65536])
        if code != OK or not data or len(data) == 4:  # the callee's own output ("deep" has 4 bytes)
            return code
        output = data


@pytest.mark.parametrize(("frames", "code"), [(31, OK), (32, ERROR)], ids=["32-frames", "33rd-frame"])
def test_at_most_32_contract_frames(world: World, frames: int, code: int) -> None:
    proxies = [world.deploy(address(0x40 + i), "proxy.wasm") for i in range(frames - 1)]
    result = run(world, job(A, chain(proxies, B), function="run"))
    assert result.status == Status.OK, result.error
    assert innermost(result.output) == code
    assert result.nested_writes == ([[B.hex(), b"k", b"deep"]] if code == OK else [])


@pytest.mark.parametrize("path", [[B, A], [C, A], [C, address(0x50), C]], ids=["A-B-A", "A-C-A", "A-C-D-C"])
def test_calling_a_contract_already_on_the_stack_returns_4(world: World, path: list[bytes]) -> None:
    world.deploy(B, "proxy.wasm")
    world.deploy(address(0x50), "proxy.wasm")
    *through, back = path
    result = run(world, job(A, chain(through, back, "run", b""), function="run"))
    assert innermost(result.output) == ERROR
    fresh = world.deploy(address(0x60), "proxy.wasm")  # the same path to a contract not on the stack: ok
    result = run(world, job(A, chain(through, fresh, "run", b""), function="run"))
    assert innermost(result.output) == OK


def test_a_legacy_call_cannot_call_contracts(world: World) -> None:
    result = run(world, job(b"", record(B, "store", store(b"k", b"v")), address=None))
    assert codes_of(result.output) == [ERROR] and result.nested_writes == []
    assert (p.REGISTRY_SPACE, B) not in world.reads


def test_a_querys_callees_are_read_only(world: World) -> None:
    data = record(B, "store", store(b"k", b"v")) + record(B, "read", b"k")
    result = run(world, job(A, data, function="run", readonly=True))
    assert result.status == Status.OK, result.error
    assert outcomes(result.output) == [(TRAP, 0, b""), (OK, 4, struct.pack("<i", -1))]
    assert result.writes == {} and result.nested_writes == []


def test_a_callee_reads_the_transactions_earlier_writes_in_its_namespace(world: World) -> None:
    world.state[B.hex()] = {b"k": b"committed"}
    data = (record(B, "read", b"k") + record(B, "store", store(b"k", b"mine"))
            + record(B, "store_then_revert", store(b"k", b"lost")) + record(B, "read", b"k"))
    result = run(world, job(A, data))
    first, _, reverted, last = outcomes(result.output)
    assert first[2] == struct.pack("<i", 9) + b"committed"
    assert reverted[0] == REVERTED and last[2] == struct.pack("<i", 4) + b"mine"
    assert world.reads.count((B.hex(), b"k")) == 1  # one committed read per location


def test_reads_of_a_failed_callee_stay_in_the_read_set(world: World) -> None:
    world.state[B.hex()] = {b"k": b"v"}
    result = run(world, job(A, record(B, "read_then_revert", b"k")))
    assert codes_of(result.output) == [REVERTED]
    assert (B.hex(), b"k") in world.reads


def test_the_callee_sees_its_caller_and_its_own_address(world: World) -> None:
    result = run(world, job(A, record(B, "who")))
    [(_, _, data)] = outcomes(result.output)
    assert data == struct.pack("<II", 20, 20) + A + B


def test_iteration_in_a_callee_sees_the_transactions_writes_in_its_namespace(world: World) -> None:
    world.state[B.hex()] = {b"a": b"1", b"c": b"3"}
    world.state[A.hex()] = {b"z": b"not B's"}
    result = run(world, job(A, record(B, "store", store(b"b", b"2")) + record(B, "scan")))
    _, (code, _, data) = outcomes(result.output)
    entries = []
    while data:
        klen, vlen = struct.unpack_from("<II", data)
        entries.append((data[8:8 + klen], data[8 + klen:8 + klen + vlen]))
        data = data[8 + klen + vlen:]
    assert code == OK and entries == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]


def test_a_nondeterministic_failure_inside_a_callee_ends_the_whole_call(world: World) -> None:
    world.broken.add(B.hex())
    result = run(world, job(A, record(B, "read", b"k")))
    assert result.code == ErrorCode.STATE_UNAVAILABLE and result.writes == {}


def test_the_time_limit_inside_a_callee_ends_the_whole_call(world: World,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    previous = signal.getsignal(signal.SIGALRM)
    monkeypatch.setattr(timelimit, "_alarm_installed", timelimit._alarm_installed)  # restored afterwards
    timelimit.install_alarm()  # as a worker process does; the handler is restored below
    try:
        spin = record(B, "store_then_spin", store(b"k", b"v"))
        result = run(world, job(A, spin + record(B, "store", store(b"k2", b"v")), timeout=0.2,
                                gas_limit=10**15))
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert result.code == ErrorCode.TIMEOUT and result.writes == {} and result.nested_writes == []


def test_a_callee_whose_module_cannot_be_fetched_ends_the_whole_call(world: World) -> None:
    world.state[p.REGISTRY_SPACE][B] = p.pack({"code_id": "f" * 64})
    result = run(world, job(A, record(B, "nothing")))
    assert result.code == ErrorCode.STATE_UNAVAILABLE


def test_events_and_writes_caps_count_over_the_whole_call(world: World) -> None:
    runtime = Runtime.of(Host(host.HostLimits(writes=2)))
    data = record(B, "store", store(b"k1", b"v")) + record(B, "store", store(b"k2", b"v"))
    result = run(world, job(A, data), runtime)  # k1, k2 and then the caller's "out": three keys
    assert result.code == ErrorCode.TRAP
    # the second callee's event is the call's second: that callee traps (2), the caller goes on
    runtime = Runtime.of(Host(host.HostLimits(events=1)))
    result = run(world, job(A, data + record(B, "read", b"k2")), runtime)
    assert result.status == Status.OK, result.error
    assert codes_of(result.output) == [OK, TRAP, OK]
    assert outcomes(result.output)[2][2] == struct.pack("<i", -1)  # the trapped callee's write is gone
    assert result.events == [[b"stored", [[b"k1", b"v"]], B]]


# --- block chunks: where each read came from, and the chain's view of nested writes ---------------------


def test_a_chunk_call_reports_foreign_reads_with_their_space_and_later_calls_read_its_nested_writes(
        world: World) -> None:
    asked: list[dict[str, Any]] = []

    def ask(question: Question) -> Reply:
        callback = question(3)
        asked.append(callback.to_body())
        assert isinstance(callback, m.ReadCallback)
        space = callback.space or A.hex()
        return m.ReadReply(3, world.state.get(space, {}).get(callback.key))

    jobs = [job(A, record(B, "store", store(b"k", b"v"))), job(C, record(B, "read", b"k"))]
    chunk = ChunkState(ask, b"chunk")
    assert chunk.prefill(jobs) == (2, "")
    runtime = Runtime.of(Host())
    body = execute_chunk(chunk, jobs, 2, "",
                         lambda entry, reader, at: execute(entry, reader, world.modules, runtime, at))
    first, second = body.chunk
    assert first["nested_writes"] == [[B.hex(), b"k", b"v"]]
    assert first["reads"] == [[B, UNWRITTEN, p.REGISTRY_SPACE]]
    assert outcomes(second["output"]) == [(OK, 5, struct.pack("<i", 1) + b"v")]
    assert second["reads"] == [[B, UNWRITTEN, p.REGISTRY_SPACE], [b"k", 0, B.hex()]]  # call 0's nested write
    assert chunk.written[B.hex(), b"k"] == (0, b"v")
    assert {"op": "get", "key": B, "index": 0, "space": p.REGISTRY_SPACE, "seq": 3} in asked
    for entry in body.chunk:  # what the broker checks when it reads the FINAL
        p.check_fields(p.unpack(p.pack(entry)), p.CHUNK_RESULT_FIELDS)


def test_the_broker_reader_names_the_namespace_of_foreign_reads_and_scans() -> None:
    asked: list[dict[str, Any]] = []

    def ask(question: Question) -> Reply:
        callback = question(5)
        asked.append(p.unpack(p.pack(callback.to_body())))
        if isinstance(callback, m.ScanCallback):
            return m.ScanReply(5, [[b"a", b"1"]], False)
        return m.ReadReply(5, b"v")

    reader = BrokerState(ask)
    assert reader.get(b"k") == reader.get_in(B.hex(), b"k") == reader.get_in(p.REGISTRY_SPACE, B) == b"v"
    assert reader.scan(b"", b"", 0, 16, space=B.hex()) == ([[b"a", b"1"]], False)
    assert asked == [{"op": "get", "key": b"k", "seq": 5},
                     {"op": "get", "key": b"k", "space": B.hex(), "seq": 5},
                     {"op": "get", "key": B, "space": p.REGISTRY_SPACE, "seq": 5},
                     {"op": "scan", "start": b"", "end": b"", "order": 0, "limit": 16, "space": B.hex(),
                      "seq": 5}]
    for body in asked:  # what the broker checks when it reads the CALLBACK
        p.check_fields(body, p.WORKER_SCHEMAS[body["op"]])
