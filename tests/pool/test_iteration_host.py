"""state_scan / state_next on the real engine, in process: order, bounds, merge, caps, limits, gas, pages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool import scanning as s
from wasmpool import wasm
from wasmpool.wasm.types import FuncType, ValType
from wasmpool.wire import errors
from wasmpool.worker.host import ABI, CallState, Host, HostGas, check_imports
from wasmpool.worker.iteration import FIRST_PAGE, MAX_ITERATORS, IterationGas, page_sizes

GAS = 50_000_000


class RangeState:
    """Committed state as a dict, served in pages as the broker does; counts pages and reads."""

    def __init__(self, values: dict[bytes, bytes] | None = None) -> None:
        self.values = dict(values or {})
        self.pages: list[tuple[bytes, bytes, int, int]] = []
        self.reads: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.reads.append(key)
        return self.values.get(key)

    def scan(self, start: bytes, end: bytes, order: int, limit: int) -> tuple[list[list[bytes]], bool]:
        self.pages.append((start, end, order, limit))
        keys = sorted(k for k in self.values if start <= k and (not end or k < end))
        if order:
            keys.reverse()
        return [[k, self.values[k]] for k in keys[:limit]], len(keys) > limit


@pytest.fixture(scope="module")
def scanner() -> wasm.Module:
    module = wasm.decode(s.SCANNER.read_bytes())
    check_imports(module)
    return module


def run(module: wasm.Module, program: bytes, state: RangeState | None = None,
        call: CallState | None = None) -> tuple[bytes, CallState, int]:
    """Run the scanner's script in a fresh instance; returns (output, call state, gas used)."""
    host = Host()
    call = call or CallState(reader=state or RangeState())
    call.input = program
    host.begin(call)
    try:
        instance = wasm.instantiate(module, imports=host.imports(), gas_limit=GAS)
        instance.exports["run"]()
    finally:
        host.end()
    return call.output, call, instance.gas_used


def root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


LETTERS = {bytes([c]): bytes([c]) * 3 for c in b"abcdefg"}


def test_the_two_imports_have_the_issue_signatures() -> None:
    assert ABI["state_scan"].type == FuncType(params=(ValType.I32,) * 5, results=(ValType.I32,))
    assert ABI["state_next"].type == FuncType(params=(ValType.I32,) * 6, results=(ValType.I32,))


@pytest.mark.parametrize(("start", "end", "order", "expected"), [
    (b"", b"", 0, b"abcdefg"),
    (b"", b"", 1, b"gfedcba"),
    (b"b", b"e", 0, b"bcd"),
    (b"b", b"e", 1, b"dcb"),
    (b"c", b"", 0, b"cdefg"),  # empty end: unbounded
    (b"c", b"", 1, b"gfedc"),
    (b"bb", b"d", 0, b"c"),  # bounds between keys
    (b"e", b"e", 0, b""),  # empty range
    (b"x", b"", 0, b""),
])
def test_order_and_bounds(scanner: wasm.Module, start: bytes, end: bytes, order: int,
                          expected: bytes) -> None:
    output, _, _ = run(scanner, s.scan(start, end, order), RangeState(LETTERS))
    assert s.pairs(output) == [(bytes([c]), bytes([c]) * 3) for c in expected]


def test_keys_order_bytewise_not_by_length_or_sign(scanner: wasm.Module) -> None:
    keys = [b"", b"\x00", b"\x00\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\xff\x00", b"a", b"ab", b"b"]
    state = RangeState({k: b"v" for k in keys})
    assert [k for k, _ in s.pairs(run(scanner, s.scan(), state)[0])] == sorted(keys)
    assert [k for k, _ in s.pairs(run(scanner, s.scan(order=1), state)[0])] == sorted(keys, reverse=True)


@pytest.mark.parametrize("order", [0, 1])
def test_the_calls_own_writes_and_deletes_are_merged_in(scanner: wasm.Module, order: int) -> None:
    state = RangeState(LETTERS)
    program = s.script(s.put(b"c", b"mine"), s.put(b"cc", b"new"), s.delete(b"d"), s.delete(b"zz"),
                       s.put(b"0", b"below"), s.scan(b"b", b"f", order))
    output, call, _ = run(scanner, program, state)
    expected = s.Model(dict(LETTERS)).view(dict(call.writes), b"b", b"f", order)
    assert s.pairs(output) == expected
    keys = [b"b", b"c", b"cc", b"e"]
    assert [k for k, _ in expected] == (keys[::-1] if order else keys)


def test_writes_after_the_iterator_opened_are_not_seen_by_it(scanner: wasm.Module) -> None:
    state = RangeState({b"a": b"1"})
    program = s.script(s.open_many(1), s.put(b"b", b"2"), s.next_of(0), s.next_of(0))
    output, _, _ = run(scanner, program, state)
    assert output == b"\x01\x00"


def test_caps_truncate_the_copies_and_the_lengths_are_the_full_ones(scanner: wasm.Module) -> None:
    state = RangeState({b"key-long": b"value-longer", b"k": b""})
    output, _, _ = run(scanner, s.scan(key_cap=3, value_cap=5), state)
    assert s.parse_scan(output, 3, 5) == [(1, 0, b"k", b""), (8, 12, b"key", b"value")]
    output, _, _ = run(scanner, s.scan(key_cap=0, value_cap=0), state)
    assert s.parse_scan(output, 0, 0) == [(1, 0, b"", b""), (8, 12, b"", b"")]


def test_entries_come_in_growing_pages_not_one_round_trip_per_key(scanner: wasm.Module) -> None:
    count = 1000
    state = RangeState({b"k%04d" % i: b"v%d" % i for i in range(count)})
    output, call, _ = run(scanner, s.scan(), state)
    assert [k for k, _ in s.pairs(output)] == [b"k%04d" % i for i in range(count)]
    assert [limit for *_, limit in state.pages] == page_sizes(count) == [16, 32, 64, 128, 256, 256, 256]
    assert state.reads == []
    assert state.pages[1][0] == b"k%04d\x00" % (FIRST_PAGE - 1)  # the next page starts past the last key
    assert len(call.seen) == count  # every entry produced is a read of the call
    output, _, _ = run(scanner, s.scan(order=1), state)
    assert [k for k, _ in s.pairs(output)] == [b"k%04d" % i for i in reversed(range(count))]
    assert state.pages[-6][1] == b"k%04d" % (count - FIRST_PAGE)  # descending: the end moves down


def test_a_call_that_stops_early_fetched_one_small_page(scanner: wasm.Module) -> None:
    state = RangeState({b"k%04d" % i: b"v" for i in range(1000)})
    run(scanner, s.script(s.open_many(1), *[s.next_of(0)] * 3), state)
    assert [limit for *_, limit in state.pages] == [FIRST_PAGE]


def test_an_entry_read_before_reads_the_same_in_a_scan(scanner: wasm.Module) -> None:
    state = RangeState({b"a": b"new", b"b": b"x"})
    call = CallState(reader=state)
    call.seen[b"a"] = b"old"  # what an earlier get_state of this call returned
    call.seen[b"b"] = None
    output, _, _ = run(scanner, s.scan(), call=call)
    assert s.pairs(output) == [(b"a", b"old")]


def test_the_iterator_limit_traps(scanner: wasm.Module) -> None:
    _, call, _ = run(scanner, s.open_many(MAX_ITERATORS))
    assert len(call.iterators) == MAX_ITERATORS
    with pytest.raises(wasm.Trap) as caught:
        run(scanner, s.open_many(MAX_ITERATORS + 1))
    assert f"more than {MAX_ITERATORS} iterators" in str(root(caught.value))


@pytest.mark.parametrize("program", [s.next_of(0), s.script(s.open_many(2), s.next_of(2)), s.raw_order(2),
                                     s.raw_order(255)])
def test_a_bad_iterator_id_or_order_traps(scanner: wasm.Module, program: bytes) -> None:
    with pytest.raises(wasm.Trap) as caught:
        run(scanner, program, RangeState(LETTERS))
    assert isinstance(root(caught.value), wasm.Trap)


def test_an_iterator_at_its_end_stays_there(scanner: wasm.Module) -> None:
    output, _, _ = run(scanner, s.script(s.open_many(1), *[s.next_of(0)] * 3), RangeState({b"a": b"1"}))
    assert output == b"\x01\x00\x00"


def test_a_query_may_scan_but_not_write(scanner: wasm.Module) -> None:
    call = CallState(reader=RangeState(LETTERS), readonly=True)
    output, _, _ = run(scanner, s.scan(b"f"), call=call)
    assert s.pairs(output) == [(b"f", b"fff"), (b"g", b"ggg")]
    with pytest.raises(BaseException) as caught:
        run(scanner, s.put(b"a", b"b"), call=CallState(reader=RangeState(), readonly=True))
    assert isinstance(root(caught.value), errors.ReadOnlyViolation)


def _gas(scanner: wasm.Module, values: dict[bytes, bytes], **caps: Any) -> int:
    return run(scanner, s.scan(**caps), RangeState(values))[2]


def test_state_next_pays_a_base_and_per_byte(scanner: wasm.Module) -> None:
    one = _gas(scanner, {b"a": b"x"}, key_cap=0, value_cap=0)
    two = _gas(scanner, {b"a": b"x", b"b": b"y" * 10}, key_cap=0, value_cap=0)
    three = _gas(scanner, {b"a": b"x", b"b": b"y" * 10, b"c": b"z" * 110}, key_cap=0, value_cap=0)
    # the loop body's own instructions are the same per entry; the host's price grows with the bytes
    assert (three - two) - (two - one) == IterationGas.SCANNED_BYTE * 100


class Meter:
    """A gas meter noting each charge."""

    def __init__(self) -> None:
        self.charges: list[int] = []

    def charge(self, amount: int) -> None:
        self.charges.append(amount)


class Caller:
    """What a host function sees of its caller: a real memory and a meter."""

    def __init__(self, memory: Any) -> None:
        self.memory = memory
        self.gas = Meter()


def test_each_host_charge_of_a_scan_and_its_entries(scanner: wasm.Module) -> None:
    host = Host()
    call = CallState(reader=RangeState({b"ab": b"xyz", b"c": b""}))
    host.begin(call)
    instance = wasm.instantiate(scanner, imports=host.imports(), gas_limit=GAS)
    caller = Caller(instance.exports["memory"])
    caller.memory.write(0, b"a")
    assert host._entry("state_scan")(caller, 0, 1, 0, 0, 0) == 0
    assert caller.gas.charges == [IterationGas.STATE_SCAN, HostGas.BYTE * 1]  # start read; empty end: free
    caller.gas.charges.clear()
    assert host._entry("state_next")(caller, 0, 100, 1, 200, 2, 300) == 1
    # base, then produced bytes (2 + 3), then the copies (1 of the key, 2 of the value)
    assert caller.gas.charges == [IterationGas.STATE_NEXT, IterationGas.SCANNED_BYTE * 5, HostGas.BYTE,
                                  2 * HostGas.BYTE]
    assert bytes(caller.memory.read(100, 1)) == b"a" and bytes(caller.memory.read(200, 2)) == b"xy"
    assert bytes(caller.memory.read(300, 8)) == (2).to_bytes(4, "little") + (3).to_bytes(4, "little")
    caller.gas.charges.clear()
    assert host._entry("state_next")(caller, 0, 100, 0, 200, 0, 300) == 1  # b"c", b"": nothing to copy
    assert caller.gas.charges == [IterationGas.STATE_NEXT, IterationGas.SCANNED_BYTE]
    caller.gas.charges.clear()
    assert host._entry("state_next")(caller, 0, 100, 0, 200, 0, 300) == 0
    assert caller.gas.charges == [IterationGas.STATE_NEXT]  # the end pays the base only
    host.end()


def test_state_next_checks_its_buffers_before_it_moves_the_iterator(scanner: wasm.Module) -> None:
    host = Host()
    call = CallState(reader=RangeState({b"a": b"1"}))
    host.begin(call)
    instance = wasm.instantiate(scanner, imports=host.imports(), gas_limit=GAS)
    caller = Caller(instance.exports["memory"])
    host._entry("state_scan")(caller, 0, 0, 0, 0, 0)
    outside = 8 * 65536 - 4
    with pytest.raises(wasm.Trap):
        host._entry("state_next")(caller, 0, 0, 0, 0, 0, outside)  # lens need 8 bytes
    assert host._entry("state_next")(caller, 0, 0, 0, 0, 0, 0) == 1  # the entry was not lost
    host.end()
