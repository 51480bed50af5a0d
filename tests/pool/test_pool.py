"""The pool end to end: real broker, two real worker processes, real sockets and SQLite."""

from __future__ import annotations

import math

import msgpack
import pytest
import zmq

from tests.pool.conftest import TEST_LIMITS, Pool, unique
from wasmpool.client import Client
from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode, Status

# --- deploy and numbers ---------------------------------------------------------------------


def test_deploy_returns_the_sha256_code_id(client: Client, probe_wasm: bytes) -> None:
    module = unique(probe_wasm)
    assert client.deploy(module) == p.code_id(module)
    assert client.deploy(module) == p.code_id(module)  # idempotent


NUMERIC = {
    "i32": ("add", [2, 3], [5]),
    "i32-wraps": ("add", [2**31 - 1, 1], [-(2**31)]),
    "i32-unsigned-argument": ("add", [0xFFFFFFFF, 0], [-1]),
    "i64": ("mul64", [2**40, 3], [3 * 2**40]),
    "f64": ("half", [3.0], [1.5]),
    "f64-from-int": ("half", [5], [2.5]),
    "multi-value": ("pair", [], [-1, 7]),
    "no-results": ("nothing", [], []),
}


@pytest.mark.parametrize(("function", "args", "expected"), NUMERIC.values(), ids=NUMERIC.keys())
def test_a_numeric_export_is_called(client: Client, probe: str, function: str, args: list[int],
                                    expected: list[int]) -> None:
    result = client.call(probe, function, args)
    assert (result.status, result.results, result.error) == (Status.OK, expected, None)
    assert result.gas_used > 0


def test_nan_comes_back_as_nan(client: Client, probe: str) -> None:
    assert math.isnan(client.call(probe, "half", [math.nan]).results[0])


BAD_CALLS = {
    "unknown-function": ("nope", [], "exports no function 'nope'"),
    "memory-is-not-a-function": ("memory", [], "exports no function 'memory'"),
    "too-few-arguments": ("add", [1], "takes 2 argument"),
    "float-for-i32": ("add", [1.5, 2], "must be an i32 integer"),
    "out-of-range-i32": ("add", [2**32, 0], "must be an i32 integer"),
}


@pytest.mark.parametrize(("function", "args", "message"), BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_a_bad_call_is_a_result_with_status_error(client: Client, probe: str, function: str,
                                                  args: list[float], message: str) -> None:
    result = client.call(probe, function, args)
    assert result.status is Status.ERROR and result.code is ErrorCode.BAD_CALL
    assert message in (result.error or "")


def test_a_bad_module_is_refused_at_deploy_with_the_engines_message(client: Client) -> None:
    with pytest.raises(errors.InvalidModule, match=r"invalid module: .*magic"):
        client.deploy(b"\x00NOTwasm")


def test_an_unknown_code_id_is_refused(client: Client) -> None:
    with pytest.raises(errors.UnknownCode, match=r"0{64}"):
        client.call("0" * 64, "add", [1, 2])


def test_a_trap_is_a_result(client: Client, probe: str) -> None:
    result = client.call(probe, "divide", [1, 0])
    assert result.status is Status.TRAP and "divide by zero" in (result.error or "")


# --- state through the host ABI ---------------------------------------------------------------


def test_writes_commit_and_are_read_back(client: Client, probe: str) -> None:
    put = client.call(probe, "put", input=b"hello")
    assert put.ok and put.writes == {b"k": b"hello"}
    get = client.query(probe, "get")
    assert (get.results, get.output) == ([5], b"hello")
    assert client.state_get(probe, b"k") == (b"hello", put_version(client, probe))


def put_version(client: Client, probe: str) -> int:
    return client.state_get(probe, b"k")[1]


def test_an_absent_key_reads_minus_one(client: Client, probe: str) -> None:
    assert client.query(probe, "get").results == [-1]


def test_delete_removes_a_key(client: Client, probe: str) -> None:
    client.call(probe, "put", input=b"x")
    assert client.call(probe, "remove").writes == {b"k": None}
    assert client.query(probe, "get").results == [-1]
    assert client.state_get(probe, b"k")[0] is None


def test_a_call_reads_its_own_writes(client: Client, probe: str) -> None:
    result = client.call(probe, "own_write")
    assert (result.results, result.output) == ([4], b"mine")


FAILURES = {
    "trap": ("write_then_trap", [], {}, Status.TRAP),
    "revert": ("write_then_revert", [], {}, Status.REVERTED),
    "out-of-gas": ("write_then_burn", [1_000_000], {"gas_limit": 20_000}, Status.OUT_OF_GAS),
    "infinite-loop": ("write_then_spin", [], {"gas_limit": 100_000}, Status.OUT_OF_GAS),
    "time-limit": ("write_then_spin", [], {"gas_limit": 10**10, "timeout": 0.5}, Status.TIMEOUT),
}


@pytest.mark.parametrize(("function", "args", "options", "status"), FAILURES.values(), ids=FAILURES.keys())
def test_a_failed_call_commits_nothing(client: Client, probe: str, function: str, args: list[int],
                                       options: dict[str, float], status: Status) -> None:
    result = client.call(probe, function, args, **options)  # type: ignore[arg-type]
    assert result.status is status and result.writes == {}
    assert client.state_get(probe, b"k") == (None, 0)


def test_out_of_gas_reports_the_whole_limit_used(client: Client, probe: str) -> None:
    assert client.call(probe, "spin", gas_limit=5_000).gas_used == 5_000


def test_revert_carries_the_contracts_message(client: Client, probe: str) -> None:
    assert client.call(probe, "write_then_revert").error == "nope"


@pytest.mark.parametrize("function", ["bad_pointer", "bad_key"])
def test_a_host_call_with_a_bad_pointer_traps(client: Client, probe: str, function: str) -> None:
    result = client.call(probe, function)
    assert result.status is Status.TRAP and "outside memory" in (result.error or "")


def test_a_value_over_the_limit_traps(client: Client, probe: str) -> None:
    result = client.call(probe, "big_value")
    assert result.status is Status.TRAP and "exceed the limit" in (result.error or "")


def test_a_query_cannot_write(client: Client, probe: str) -> None:
    result = client.query(probe, "put", input=b"sneaky")
    assert result.status is Status.ERROR and result.code is ErrorCode.READ_ONLY
    assert "read-only" in (result.error or "")
    assert client.state_get(probe, b"k") == (None, 0)


def test_input_output_logs_and_context(client: Client, probe: str) -> None:
    assert client.call(probe, "echo", input=b"\x00\x01ping").output == b"\x00\x01ping"
    assert client.call(probe, "input_len", input=b"abc").results == [3]
    assert client.call(probe, "logs").logs == [b"one", b"two"]
    context = {"caller": b"alice", "height": 42, "time": 1_700_000_000}
    assert client.call(probe, "whoami", context=context).output == b"alice"
    assert client.call(probe, "height", context=context).results == [42]
    assert client.call(probe, "time", context=context).results == [1_700_000_000]


# --- the token contract ----------------------------------------------------------------------------


def transfer(client: Client, token: str, sender: str, text: str):  # type: ignore[no-untyped-def]
    return client.call(token, "transfer", input=text.encode(), context={"caller": sender.encode()})


def balance(client: Client, token: str, account: str) -> int:
    result = client.query(token, "balance_of", input=account.encode())
    assert result.ok and result.output == str(result.results[0]).encode()
    return int(result.results[0])


def test_token_mint_transfer_and_balances(client: Client, token: str) -> None:
    mint = client.call(token, "mint", input=b"alice 1000", context={"caller": b"alice"})
    assert mint.ok and mint.logs == [b"mint"]
    assert transfer(client, token, "alice", "bob 300").ok
    assert transfer(client, token, "bob", "carol 100").ok
    assert [balance(client, token, a) for a in ("alice", "bob", "carol")] == [700, 200, 100]
    assert client.query(token, "total_supply").results == [1000]


def test_token_insufficient_balance_reverts_and_changes_nothing(client: Client, token: str) -> None:
    client.call(token, "mint", input=b"alice 10", context={"caller": b"alice"})
    before = client.state_get(token, b"bal:alice")
    result = transfer(client, token, "alice", "bob 11")
    assert result.status is Status.REVERTED and result.error == "insufficient balance"
    assert client.state_get(token, b"bal:alice") == before
    assert client.state_get(token, b"bal:bob") == (None, 0)


def test_token_only_the_owner_mints(client: Client, token: str) -> None:
    assert client.call(token, "mint", input=b"alice 1", context={"caller": b"alice"}).ok
    stolen = client.call(token, "mint", input=b"mallory 1000", context={"caller": b"mallory"})
    assert stolen.status is Status.REVERTED and "owner" in (stolen.error or "")


# --- garbage on the wire -----------------------------------------------------------------------------


@pytest.fixture
def raw(pool: Pool):  # type: ignore[no-untyped-def]
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)
    sock.connect(pool.frontend)
    yield sock
    sock.close(linger=0)


GARBAGE = {
    "one-frame": [b"GET / HTTP/1.1"],
    "bad-tag": [b"XXX", b"\x02", b"id-1", b"\x80"],
    "unknown-command": [p.CLIENT_TAG, b"\x09", b"id-2", b"\x80"],
    "garbage-msgpack": [p.CLIENT_TAG, b"\x02", b"id-3", b"\xc1\xff\x00"],
    "msgpack-not-a-map": [p.CLIENT_TAG, b"\x02", b"id-4", msgpack.packb("hello")],
    "unknown-op": [p.CLIENT_TAG, b"\x02", b"id-5", msgpack.packb({"op": "rm -rf"})],
    "oversized": [p.CLIENT_TAG, b"\x02", b"id-6", b"\xc6" + (TEST_LIMITS.max_body + 8).to_bytes(4, "big")
                  + b"\x00" * (TEST_LIMITS.max_body + 8)],
}
GARBAGE_CODES = {
    "one-frame": ErrorCode.BAD_FRAME, "bad-tag": ErrorCode.BAD_FRAME,
    "unknown-command": ErrorCode.UNKNOWN_COMMAND, "garbage-msgpack": ErrorCode.BAD_BODY,
    "msgpack-not-a-map": ErrorCode.BAD_BODY, "unknown-op": ErrorCode.BAD_REQUEST,
    "oversized": ErrorCode.TOO_LARGE,
}


@pytest.mark.parametrize("name", GARBAGE.keys())
def test_garbage_gets_a_clear_error_and_the_broker_keeps_serving(raw: zmq.Socket, client: Client,  # type: ignore[type-arg]
                                                                 probe: str, name: str) -> None:
    raw.send_multipart(GARBAGE[name])
    tag, command, rid, body = raw.recv_multipart()
    reply = msgpack.unpackb(body)
    assert (tag, command[0]) == (p.CLIENT_TAG, Command.ERROR)
    assert reply["code"] == GARBAGE_CODES[name] and reply["message"]
    if name != "one-frame":
        assert rid == GARBAGE[name][2]
    assert client.call(probe, "add", [1, 1]).results == [2]


def test_garbage_from_a_fake_worker_is_dropped(pool: Pool, client: Client, probe: str) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(pool.backend)
    try:
        for frames in GARBAGE.values():
            sock.send_multipart(frames)
        sock.send_multipart([p.WORKER_TAG, bytes((Command.FINAL,)), b"job", b"\xc1"])
        assert client.call(probe, "add", [2, 2]).results == [4]
        assert client.stats()["counters"]["dropped"] >= len(GARBAGE)
    finally:
        sock.close(linger=0)


def test_stats_count_workers_jobs_and_cache(client: Client, probe: str) -> None:
    for _ in range(3):
        client.call(probe, "add", [1, 2])
    stats = client.stats()
    assert stats["workers"] == 2 and stats["queue"] == 0 and stats["in_flight"] == 0
    assert stats["jobs_done"] >= 3
    assert stats["cache_hits"] >= 1 and stats["cache_misses"] >= 1
    assert 0 < stats["cache_hit_rate"] < 1
