"""Events and gas_left through a real pool: results, receipts of blocks equal to serial, caps, gas, and the
result size bound; the wire form of events checked against the protocol's schema."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pool.conftest import unique
from tests.pool.test_blocks import Fixture, Pools, call, run_and_check
from tests.pool.test_events_host import attrs, event_input
from wasmpool.client import Client, Result
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import ErrorCode, ProtocolLimits, Status
from wasmpool.wire.receipts import BlockResult
from wasmpool.worker.host import HostGas

FIXTURES = Path(__file__).parent / "fixtures"
TRANSFER = event_input(b"transfer", attrs((b"from", b"alice"), (b"to", b"bob"), (b"amount", b"7")))


@pytest.fixture(scope="module")
def events_wasm() -> bytes:
    return (FIXTURES / "events.wasm").read_bytes()


@pytest.fixture
def events(client: Client, events_wasm: bytes) -> str:
    return client.deploy(unique(events_wasm))


def test_a_call_returns_its_events_in_order(client: Client, events: str) -> None:
    result = client.call(events, "emit_times", [2], input=TRANSFER)
    assert result.ok
    assert result.events == [(b"transfer", [(b"from", b"alice"), (b"to", b"bob"), (b"amount", b"7")])] * 2
    assert client.call(events, "emit", input=event_input(b"empty", b"")).events == [(b"empty", [])]


def test_events_are_discarded_with_writes_and_logs_are_kept_when_a_call_fails(client: Client,
                                                                               events: str) -> None:
    for function, status in (("emit_then_revert", Status.REVERTED), ("emit_then_trap", Status.TRAP)):
        result = client.call(events, function, input=TRANSFER)
        assert result.status is status and result.events == [] and result.writes == {}
    assert client.call(events, "emit_then_revert", input=TRANSFER).logs == [b"v"]
    ok = client.call(events, "emit_and_write", input=TRANSFER)
    assert ok.ok and len(ok.events) == 1 and ok.logs == [b"v"] and client.state_get(events, b"k")[0] == b"v"


def test_a_query_returns_its_events(client: Client, events: str) -> None:
    assert client.query(events, "emit", input=TRANSFER).events[0][0] == b"transfer"


def test_malformed_attributes_and_a_breached_cap_trap_through_the_pool(client: Client, events: str) -> None:
    cut = client.call(events, "emit", input=event_input(b"t", struct.pack("<I", 9) + b"abc"))
    assert cut.status is Status.TRAP and cut.error and "runs past the end" in cut.error and cut.events == []
    many = client.call(events, "emit_times", [129], input=event_input(b"t", b""))  # the default cap is 128
    assert many.status is Status.TRAP and many.error and "more than 128 events" in many.error


def test_events_are_charged_per_byte_through_the_pool(client: Client, events: str) -> None:
    small = client.call(events, "emit", input=event_input(b"t", attrs((b"k", b""))))
    large = client.call(events, "emit", input=event_input(b"t", attrs((b"k", b"x" * 500))))
    assert large.gas_used - small.gas_used == 500 * (2 * HostGas.BYTE + HostGas.EVENT_BYTE)


def test_gas_left_through_the_pool_is_exact(client: Client, events: str) -> None:
    few, many = client.call(events, "gas_around", [3]), client.call(events, "gas_around", [40])
    assert few.ok and many.ok
    (before_few, after_few), (before_many, after_many) = few.results, many.results
    assert (before_many - after_many) - (before_few - after_few) == many.gas_used - few.gas_used > 0
    limit = 1_000_000
    alone = client.call(events, "gas_left", gas_limit=limit)
    assert alone.results == [limit - alone.gas_used]  # the meter is the call's: its limit less what it used


def test_events_count_toward_the_result_size_bound() -> None:
    limits = ProtocolLimits(max_body=16 * 1024, max_bin_len=16 * 1024)
    room = m.result_room(limits)
    event = [b"t", [[b"k", bytes(1000)]]]
    result = m.CallResult(Status.OK, ErrorCode.OK, events=[event] * 20, writes={b"k": b"v"}, gas_used=3)
    assert m.footprint(result).size >= len(p.pack(result.to_body()))
    replaced = m.fitting(result, room)
    assert replaced.code == ErrorCode.RESULT_TOO_LARGE and replaced.events == [] and replaced.writes == {}
    assert replaced.error is not None and "20 events" in replaced.error
    small = m.CallResult(Status.OK, ErrorCode.OK, events=[event])
    assert m.fitting(small, room) is small


def test_the_wire_schema_takes_events_and_refuses_malformed_ones() -> None:
    body = m.CallResult(Status.OK, int(ErrorCode.OK), events=[[b"t", [[b"k", b"v"]]]]).to_body()
    p.check_fields(body, p.RESULT_FIELDS)
    assert Result.from_body(body).events == [(b"t", [(b"k", b"v")])]
    for bad in ([[b"t"]], [[b"t", [[b"k"]]]], [["t", []]], [[b"t", [[b"k", 1]]]]):
        with pytest.raises(Exception, match="events"):
            p.check_fields({**body, "events": bad}, p.RESULT_FIELDS)
    assert "events" not in m.CallResult(Status.OK, ErrorCode.OK).to_body()  # none: left out


# --- blocks: receipts carry events, equal to serial execution ---------------------------------------


@pytest.fixture(scope="module")
def block_pool(tmp_path_factory: pytest.TempPathFactory, events_wasm: bytes) -> Iterator[tuple[Fixture, str]]:
    pools = Pools(tmp_path_factory.mktemp("event-blocks"))
    try:
        fixture = pools.get(2)
        yield fixture, fixture.deploy(events_wasm)
    finally:
        pools.close()


def test_block_receipts_carry_events_equal_to_serial(block_pool: tuple[Fixture, str]) -> None:
    fixture, events = block_pool
    other = event_input(b"other", attrs((b"n", b"1")))
    calls = [call(events, "emit_and_write", TRANSFER), call(events, "emit_then_revert", TRANSFER),
             call(events, "emit", other), call(events, "emit_then_trap", other),
             call(events, "emit_times", other, b"", 3)]
    result = run_and_check(fixture, calls)
    assert [len(r.events) for r in result.receipts] == [1, 0, 1, 0, 3]
    assert result.receipts[0].events == ((b"transfer", ((b"from", b"alice"), (b"to", b"bob"),
                                                        (b"amount", b"7"))),)
    # the digest covers the events: the same block without them hashes differently
    bare = BlockResult(tuple(dataclasses.replace(r, events=()) for r in result.receipts), result.writes,
                       result.state_root)
    assert bare.digest() != result.digest()
    assert BlockResult.decode(result.encode()) == result
