"""Operator limits and untrusted contracts, over real sockets.

Ceilings: a broker (no workers needed: every ceiling is checked before a
request is queued) started with ``Broker(limits=OperatorLimits(...))``
rejects each request above a ceiling with ``LimitExceeded`` naming the
limit, and keeps serving the ones below. The CLI flags build the same
``OperatorLimits``.

Isolation: on the shared pool, a hostile contract cannot read another
contract's keys however it spells them, a contract importing outside the
ABI gets a clear error, and exhausting memory, stack or gas or trapping in
any way ends the call with a status while every worker process stays up
and serves the next call.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pool.conftest import FIXTURES, LOOPBACK, TEST_CONFIG, Pool, unique
from wasmpool.broker.limits import Limit, OperatorLimits
from wasmpool.cli import build_parser, operator
from wasmpool.client import Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wire import errors
from wasmpool.wire.protocol import ErrorCode, Status

pytestmark = pytest.mark.timeout(60)

CEILINGS = OperatorLimits(max_message=64 * 1024, max_module=4096, max_input=100, max_args=2,
                          max_gas=1_000_000, max_timeout=5.0)
SIGNED_MINUS_ONE = -1  # get_state's "absent"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerThread]:
    broker = Broker(f"sqlite:{tmp_path_factory.mktemp('limits') / 'state.db'}", LOOPBACK, LOOPBACK,
                    config=TEST_CONFIG, limits=CEILINGS)
    with BrokerThread(broker) as thread:
        yield thread


@pytest.fixture
def limited_client(limited: BrokerThread) -> Iterator[Client]:
    with Client(limited.frontend, timeout=5.0) as made:
        yield made


@pytest.fixture(scope="module")
def hostile_wasm() -> bytes:
    return (FIXTURES / "hostile.wasm").read_bytes()


@pytest.fixture(scope="module")
def limited_code(limited: BrokerThread, hostile_wasm: bytes) -> str:
    with Client(limited.frontend, timeout=5.0) as client:
        return client.deploy(hostile_wasm)


# --- ceilings ------------------------------------------------------------------------------

CALLS_ABOVE = {  # id: (call keyword arguments, the limit named, a word the message must contain)
    "gas": ({"gas_limit": 1_000_001}, Limit.MAX_GAS, "gas_limit"),
    "timeout": ({"timeout": 5.5}, Limit.MAX_TIMEOUT, "timeout"),
    "input": ({"input": b"x" * 101}, Limit.MAX_INPUT, "input"),
    "args": ({"args": [1, 2, 3]}, Limit.MAX_ARGS, "argument"),
}


@pytest.mark.parametrize(("kwargs", "limit", "word"), CALLS_ABOVE.values(), ids=CALLS_ABOVE.keys())
@pytest.mark.parametrize("op", ["call", "query"])
def test_a_call_above_a_ceiling_is_rejected_naming_the_limit(
        limited_client: Client, limited_code: str, op: str, kwargs: dict[str, object], limit: Limit,
        word: str) -> None:
    args = kwargs.get("args")
    rest = {k: v for k, v in kwargs.items() if k != "args"}
    with pytest.raises(errors.LimitExceeded) as caught:
        getattr(limited_client, op)(limited_code, "read_key", args, **rest)
    assert caught.value.limit == limit
    assert word in caught.value.reason and str(limit) in caught.value.reason


def test_a_limit_error_is_a_bad_request_on_the_wire(limited_client: Client, limited_code: str) -> None:
    """Older clients see the code they know: BAD_REQUEST."""
    body = {"op": "call", "code_id": limited_code, "function": "read_key", "gas_limit": 10**9}
    with pytest.raises(errors.BadRequest) as caught:
        limited_client.request(body)
    assert isinstance(caught.value, errors.LimitExceeded)


def padded(module: bytes, extra: int) -> bytes:
    """``module`` plus a custom section of ``extra`` zero bytes: still valid, just bigger."""
    payload = b"\x03pad" + bytes(extra)
    size, leb = len(payload), bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        leb.append(byte | (0x80 if size else 0))
        if not size:
            return module + b"\x00" + bytes(leb) + payload


def test_a_module_above_the_ceiling_is_not_deployed(limited_client: Client, hostile_wasm: bytes) -> None:
    big = padded(hostile_wasm, 5000)
    with pytest.raises(errors.LimitExceeded) as caught:
        limited_client.deploy(big)
    assert caught.value.limit == Limit.MAX_MODULE and str(len(big)) in caught.value.reason
    with Client(limited_client.endpoint, timeout=5.0) as other:  # the same module under the ceiling is fine
        assert other.deploy(padded(hostile_wasm, 100))


@pytest.mark.parametrize("what", ["deploy", "input"])
def test_a_message_above_the_ceiling_is_too_large(limited_client: Client, limited_code: str,
                                                   what: str) -> None:
    blob = bytes(CEILINGS.max_message or 0)
    with pytest.raises(errors.MessageTooLarge):
        if what == "deploy":
            limited_client.deploy(blob)
        else:
            limited_client.call(limited_code, "read_key", input=blob)


def test_requests_under_the_ceilings_are_served(limited_client: Client, hostile_wasm: bytes,
                                                limited: BrokerThread) -> None:
    assert len(hostile_wasm) <= CEILINGS.max_module  # type: ignore[operator]
    assert limited_client.deploy(unique(hostile_wasm))
    config = limited.broker.core.config
    assert config.default_gas == CEILINGS.max_gas  # a call naming no gas is never refused
    assert config.default_timeout == CEILINGS.max_timeout
    assert config.limits.max_body == CEILINGS.max_message


def test_the_cli_flags_build_the_same_limits() -> None:
    args = build_parser().parse_args([
        "broker", "--max-message", "65536", "--max-module", "4096", "--max-input", "100", "--max-args", "2",
        "--max-gas", "1000000", "--max-timeout", "5"])
    assert operator.operator_limits(args) == CEILINGS


@pytest.mark.parametrize("field", [f.value for f in Limit])
def test_a_ceiling_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        OperatorLimits(**{field: 0})


# --- untrusted contracts --------------------------------------------------------------------


@pytest.fixture
def hostile(client: Client, hostile_wasm: bytes) -> str:
    return client.deploy(unique(hostile_wasm))


def crafted_keys(victim: str, key: bytes) -> list[bytes]:
    """Ways a contract might try to name another contract's key."""
    hexid = victim.encode()
    return [key, hexid + key, hexid + b":" + key, hexid + b"/" + key, hexid + b"\x00" + key,
            bytes.fromhex(victim) + key, b"../" + hexid + b"/" + key, b"%s|%s" % (hexid, key)]


def test_a_contract_cannot_read_another_contracts_keys(client: Client, hostile: str,
                                                       hostile_wasm: bytes) -> None:
    victim = hostile
    written = client.call(victim, "write_key", input=b"secret")
    assert written.ok and written.writes == {b"secret": b"owned"}
    own = client.query(victim, "read_key", input=b"secret")
    assert (own.results, own.output) == ([5], b"owned")  # the victim reads its own key
    attacker = client.deploy(unique(hostile_wasm))
    for key in crafted_keys(victim, b"secret"):
        result = client.query(attacker, "read_key", input=key)
        assert result.ok and (result.results, result.output) == ([SIGNED_MINUS_ONE], b""), key
    assert client.state_get(attacker, b"secret") == (None, 0)


def test_a_contract_cannot_overwrite_another_contracts_keys(client: Client, hostile: str,
                                                            hostile_wasm: bytes) -> None:
    attacker = client.deploy(unique(hostile_wasm))
    for key in crafted_keys(hostile, b"mine"):
        assert client.call(attacker, "write_key", input=key).ok
    assert client.state_get(hostile, b"mine") == (None, 0)


def test_importing_outside_the_abi_is_a_clear_error(client: Client) -> None:
    module = unique((FIXTURES / "bad_import.wasm").read_bytes())
    try:
        code_id = client.deploy(module)
    except errors.InvalidModule as exc:  # refused at deploy: as good
        assert "launch_missiles" in exc.reason
        return
    result = client.call(code_id, "run")
    assert result.status is Status.ERROR and result.code == ErrorCode.LINK_ERROR
    assert result.error is not None and "launch_missiles" in result.error


HOSTILE_CALLS = {  # function: (gas limit, expected status)
    "grow_forever": (None, Status.OK),
    "recurse": (None, Status.TRAP),
    "spin": (200_000, Status.OUT_OF_GAS),
    "unreachable": (None, Status.TRAP),
    "div_zero": (None, Status.TRAP),
    "div_overflow": (None, Status.TRAP),
    "bad_convert": (None, Status.TRAP),
    "out_of_bounds": (None, Status.TRAP),
    "null_call": (None, Status.TRAP),
    "wrong_type": (None, Status.TRAP),
    "host_bad_pointer": (None, Status.TRAP),
}


def worker_pids(client: Client) -> set[int]:
    return {w["pid"] for w in client.stats()["worker_list"]}


@pytest.mark.parametrize(("function", "gas", "status"),
                         [(f, g, s) for f, (g, s) in HOSTILE_CALLS.items()], ids=list(HOSTILE_CALLS))
def test_a_hostile_call_ends_with_a_status_and_the_workers_live_on(
        pool: Pool, client: Client, hostile: str, function: str, gas: int | None, status: Status) -> None:
    before = worker_pids(client)
    result = client.call(hostile, function, [0] if function == "recurse" else [], gas_limit=gas)
    assert result.status is status, result.error
    if function == "grow_forever":
        assert 1 <= result.results[0] <= 256  # capped by the runtime's memory limit (16 MiB)
    for _ in range(len(pool.workers)):  # every worker, whichever ran it, serves the next call
        assert client.query(hostile, "read_key", input=b"k").ok
    assert all(process.is_alive() for process in pool.workers)
    assert worker_pids(client) == before
