"""emit_event and gas_left on the real engine, in process.

Events, their caps and prices, malformed attributes, and gas_left's exactness.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.pool.test_host import raised, root, run
from wasmpool import wasm
from wasmpool.worker.host import ABI, Host, HostGas, HostLimits, parse_attributes

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def events() -> wasm.Module:
    return wasm.decode((FIXTURES / "events.wasm").read_bytes())


def attrs(*pairs: tuple[bytes, bytes]) -> bytes:
    """An attribute buffer: u32 key_len, key, u32 value_len, value, for each pair (little-endian)."""
    return b"".join(struct.pack("<I", len(k)) + k + struct.pack("<I", len(v)) + v for k, v in pairs)


def event_input(kind: bytes, raw: bytes) -> bytes:
    """The fixture's input: u32 type_len, the type, the attribute buffer."""
    return struct.pack("<I", len(kind)) + kind + raw


def test_the_abi_has_emit_event_and_gas_left_with_their_signatures() -> None:
    i32, i64 = wasm.ValType.I32, wasm.ValType.I64
    assert ABI["emit_event"].type == wasm.FuncType((i32,) * 4, ())
    assert ABI["gas_left"].type == wasm.FuncType((), (i64,))
    assert HostGas.EVENT >= HostGas.LOG and HostGas.EVENT_BYTE + HostGas.BYTE > HostGas.BYTE


def test_an_event_keeps_its_type_and_attributes_in_order(events: wasm.Module) -> None:
    pairs = ((b"to", b"alice"), (b"amount", b"5"), (b"to", b"bob"), (b"", b""))
    _, call, _ = run(events, "emit", input=event_input(b"transfer", attrs(*pairs)))
    assert call.events == [(b"transfer", list(pairs))]
    _, call, _ = run(events, "emit_times", 3, input=event_input(b"tick", b""))
    assert call.events == [(b"tick", [])] * 3


@pytest.mark.parametrize("size", [10, 1000])
def test_an_event_costs_its_base_and_per_byte_more_than_a_log(events: wasm.Module, size: int) -> None:
    _, _, none = run(events, "emit", input=event_input(b"t", attrs((b"k", b""))))
    _, _, more = run(events, "emit", input=event_input(b"t", attrs((b"k", b"x" * size))))
    copy_in = 2 * HostGas.BYTE  # get_input copies the input in, emit_event copies it out of memory
    assert more - none == size * (copy_in + HostGas.EVENT_BYTE)
    _, _, log_none = run(events, "log_input", input=b"")
    _, _, log_more = run(events, "log_input", input=b"x" * size)
    assert (more - none) > (log_more - log_none)  # per byte: dearer than a log


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x05\x00", "the key length at byte 0 is cut off"),
    (struct.pack("<I", 9) + b"abc", "a key of 9 bytes at byte 4 runs past the end"),
    (struct.pack("<I", 1) + b"k" + b"\x01", "the value length at byte 5 is cut off"),
    (struct.pack("<I", 1) + b"k" + struct.pack("<I", 0xFFFFFFFF), "a value of 4294967295 bytes"),
])
def test_malformed_attributes_trap_saying_where(events: wasm.Module, raw: bytes, message: str) -> None:
    exc = root(raised(events, "emit", input=event_input(b"t", raw)))
    assert isinstance(exc, wasm.Trap) and message in str(exc)


@pytest.mark.parametrize(("limits", "function", "args", "kind", "raw", "message"), [
    (HostLimits(events=2), "emit_times", (3,), b"t", b"", "more than 2 events"),
    (HostLimits(event_type=4), "emit", (), b"toolong", b"", "7 bytes exceed the limit of 4"),
    (HostLimits(event_attributes=2), "emit", (), b"t", attrs(*[(b"k", b"v")] * 3), "more than 2 attributes"),
    (HostLimits(event_bytes=100), "emit_times", (3,), b"t", attrs((b"k", b"v" * 40)), "exceed 100 bytes"),
])
def test_each_event_cap_traps(events: wasm.Module, limits: HostLimits, function: str, args: tuple[int, ...],
                              kind: bytes, raw: bytes, message: str) -> None:
    with pytest.raises(BaseException) as caught:
        run(events, function, *args, host=Host(limits), input=event_input(kind, raw))
    exc = root(caught.value)
    assert isinstance(exc, wasm.Trap) and message in str(exc)


def test_an_event_outside_memory_traps(events: wasm.Module) -> None:
    exc = root(raised(events, "event_outside_memory"))
    assert isinstance(exc, wasm.Trap) and exc.kind is wasm.TrapKind.OUT_OF_BOUNDS_MEMORY


def test_a_query_may_emit_events(events: wasm.Module) -> None:
    _, call, _ = run(events, "emit", input=event_input(b"seen", b""), readonly=True)
    assert call.events == [(b"seen", [])]


def test_gas_left_is_the_meter_after_its_own_price(events: wasm.Module) -> None:
    left, _, used = run(events, "gas_left")
    assert left == 10_000_000 - used  # the function is one gas block, charged before gas_left runs


@pytest.mark.parametrize(("few", "many"), [(1, 2), (3, 50)])
def test_gas_left_differences_equal_the_gas_of_the_code_between(events: wasm.Module, few: int,
                                                                many: int) -> None:
    (before_few, after_few), _, used_few = run(events, "gas_around", few)
    (before_many, after_many), _, used_many = run(events, "gas_around", many)
    assert before_few == before_many  # nothing before the first gas_left depends on the count
    assert after_few == 10_000_000 - used_few and after_many == 10_000_000 - used_many
    # the extra turns of the loop between the two readings: exactly what the meter charged for them
    assert (before_many - after_many) - (before_few - after_few) == used_many - used_few > 0


def test_parse_attributes_reads_the_documented_layout() -> None:
    assert parse_attributes(b"", 4) == []
    assert parse_attributes(attrs((b"a", b"bc"), (b"", b"d")), 4) == [(b"a", b"bc"), (b"", b"d")]
