"""Calls between contracts through a real pool: broker, worker processes, sockets and a SQLite file.

The contracts are the test fixtures ``proxy`` (makes the calls its input
lists and reports each one's code and return data), ``callee`` (stores,
reverts, traps, spins, reads) and ``ledger`` (a shared balance sheet whose
``move`` is a read-modify-write). What is checked is the broker's side:
what commits (both namespaces at once, or only the caller's), what a query
may do, and that concurrent calls reaching one shared contract through
different callers stay serializable, a migrate of the callee included.
"""

from __future__ import annotations

import struct
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.pool.conftest import Pool, unique
from wasmpool.client import Client, Result
from wasmpool.wire.protocol import Op, Status

FIXTURES = Path(__file__).parent / "fixtures"
OK, REVERTED, TRAP, OUT_OF_GAS, ERROR = range(5)
CAP = 64 * 1024  # return data copied per call: all of it, in these tests
GAS = 50_000_000
ADMIN = b"admin"
_salts = iter(range(10**9))


def module(name: str) -> bytes:
    return (FIXTURES / f"{name}.wasm").read_bytes()


def record(address: str, function: str, input: bytes = b"", gas: int = 0) -> bytes:
    """One call of a proxy's input (see proxy.wat)."""
    name = function.encode()
    return (bytes.fromhex(address) + struct.pack("<I", len(name)) + name
            + struct.pack("<QII", gas, CAP, len(input)) + input)


def outcomes(output: bytes) -> list[tuple[int, bytes]]:
    """A proxy's output: each call's code and return data."""
    found, at = [], 0
    while at < len(output):
        code, length = struct.unpack_from("<II", output, at)
        found.append((code, output[at + 8:at + 8 + length]))
        at += 8 + length
    return found


def store_input(key: bytes, value: bytes) -> bytes:
    return struct.pack("<I", len(key)) + key + value


def move_input(source: int, to: int, amount: int) -> bytes:
    return bytes([source, to]) + struct.pack("<q", amount)


def balance(client: Client, ledger: str, account: int) -> int:
    value, _ = client.state_get(ledger, bytes([account]))
    return 0 if value is None else int(struct.unpack("<q", value)[0])


def instance(client: Client, code_id: str) -> str:
    made = client.instantiate(code_id, salt=b"%d" % next(_salts), admin=ADMIN, caller=ADMIN)
    assert made.ok, made.result.error
    return made.address


@pytest.fixture(scope="module")
def codes(pool: Pool) -> dict[str, str]:
    """The fixtures deployed once for this module (fresh code ids: fresh contracts)."""
    with pool.client() as client:
        return {name: client.deploy(unique(module(name))) for name in ("proxy", "callee", "ledger")}


@pytest.fixture
def proxy(client: Client, codes: dict[str, str]) -> str:
    return instance(client, codes["proxy"])


@pytest.fixture
def callee(client: Client, codes: dict[str, str]) -> str:
    return instance(client, codes["callee"])


def call(client: Client, address: str, *records: bytes, function: str = "run_and_write",
         op: Op = Op.CALL, gas_limit: int = GAS) -> dict[str, Any]:
    """The raw reply body of a proxy call (it carries ``nested_writes``, which Result leaves out)."""
    return client.request({"op": op, "code_id": address, "function": function, "input": b"".join(records),
                           "gas_limit": gas_limit})


# --- what commits --------------------------------------------------------------------------------


def test_a_call_and_its_callees_writes_commit_together_with_the_callees_event(client: Client, proxy: str,
                                                                               callee: str) -> None:
    before = client.stats()["sequence"]
    body = call(client, proxy, record(callee, "store", store_input(b"k", b"v")))
    result = Result.from_body(body)
    assert result.ok, result.error
    assert outcomes(result.output) == [(OK, b"v")]
    assert client.stats()["sequence"] == before + 1  # one commit for both namespaces
    assert client.state_get(proxy, b"out") == (result.output, before + 1)
    assert client.state_get(callee, b"k") == (b"v", before + 1)
    assert body["writes"] == {b"out": result.output}
    assert body["nested_writes"] == [[callee, b"k", b"v"]]
    assert result.events == [(b"stored", [(b"k", b"v")], bytes.fromhex(callee))]


@pytest.mark.parametrize("function, gas, code, data", [
    ("store_then_revert", 0, REVERTED, b"nope"),
    ("store_then_trap", 0, TRAP, b""),
    ("store_then_spin", 200_000, OUT_OF_GAS, b""),
], ids=["revert", "trap", "out-of-gas"])
def test_a_failed_callee_commits_nothing_and_the_caller_goes_on(client: Client, proxy: str, callee: str,
                                                                function: str, gas: int, code: int,
                                                                data: bytes) -> None:
    body = call(client, proxy, record(callee, function, store_input(b"k", b"v"), gas),
                record(callee, "store", store_input(b"after", b"a")))
    result = Result.from_body(body)
    assert result.ok, result.error
    assert outcomes(result.output) == [(code, data), (OK, b"a")]
    assert client.state_get(proxy, b"out")[0] == result.output  # the caller's write
    assert client.state_get(callee, b"k")[0] is None  # the failed callee's, discarded
    assert client.state_get(callee, b"after")[0] == b"a"  # the later successful call's
    assert body["nested_writes"] == [[callee, b"after", b"a"]]
    assert [event[1] for event in result.events] == [[(b"after", b"a")]]


def test_a_caller_that_fails_after_a_successful_call_commits_nothing_of_either(client: Client, proxy: str,
                                                                                callee: str) -> None:
    spin = record(callee, "store_then_spin", store_input(b"spin", b"s"))  # gas 0: all the caller has left
    body = call(client, proxy, record(callee, "store", store_input(b"k", b"v")), spin)
    assert body["status"] == Status.OUT_OF_GAS and "nested_writes" not in body and body["writes"] == {}
    assert client.state_get(callee, b"k")[0] is None and client.state_get(proxy, b"out")[0] is None


# --- limits ----------------------------------------------------------------------------------------


def chain(proxies: list[str], last: bytes) -> bytes:
    """A proxy input making proxies[0] call proxies[1] ... and the last proxy make the call ``last``."""
    for address in reversed(proxies):
        last = record(address, "run", last)
    return last


def test_the_33rd_frame_is_refused_and_32_run(client: Client, codes: dict[str, str], callee: str) -> None:
    proxies = [instance(client, codes["proxy"]) for _ in range(31)]
    store = record(callee, "store", store_input(b"deep", b"1"))
    # outermost call of proxies[0] (frame 1) .. proxies[30] (frame 31) calls the callee (frame 32): ok
    fits = Result.from_body(call(client, proxies[0], chain(proxies[1:], store), function="run"))
    assert fits.ok, fits.error
    assert client.state_get(callee, b"deep")[0] == b"1"
    extra = instance(client, codes["proxy"])  # one proxy more: the callee would be frame 33
    deep = Result.from_body(call(client, proxies[0], chain([*proxies[1:], extra], store), function="run"))
    assert deep.ok, deep.error
    innermost = deep.output
    for _ in range(31):  # down through the 31 proxies that ran
        ((code, innermost),) = outcomes(innermost)
        assert code == OK
    assert outcomes(innermost) == [(ERROR, b"")]  # the extra proxy's call of the callee


def test_a_contract_on_the_call_stack_cannot_be_called_again(client: Client, codes: dict[str, str],
                                                             callee: str) -> None:
    first, second = instance(client, codes["proxy"]), instance(client, codes["proxy"])
    back = record(first, "run", record(callee, "store", store_input(b"k", b"v")))
    result = Result.from_body(call(client, first, record(second, "run_and_write", back)))
    assert result.ok, result.error
    ((code, data),) = outcomes(result.output)
    assert code == OK and outcomes(data) == [(ERROR, b"")]  # second's call back into first
    assert client.state_get(second, b"out")[0] == data  # second's own write committed
    assert client.state_get(callee, b"k")[0] is None


def test_a_legacy_call_by_code_id_cannot_call_contracts(client: Client, codes: dict[str, str],
                                                        callee: str) -> None:
    result = Result.from_body(call(client, codes["proxy"], record(callee, "store", store_input(b"k", b"v"))))
    assert result.ok and outcomes(result.output) == [(ERROR, b"")]
    assert client.state_get(callee, b"k")[0] is None


# --- queries -----------------------------------------------------------------------------------------


def test_a_query_reads_through_a_callee_and_its_callees_cannot_write(client: Client, proxy: str,
                                                                     callee: str) -> None:
    assert call(client, proxy, record(callee, "store", store_input(b"k", b"v")))["status"] == Status.OK
    read = Result.from_body(call(client, proxy, record(callee, "read", b"k"), function="run", op=Op.QUERY))
    assert read.ok and outcomes(read.output) == [(OK, struct.pack("<i", 1) + b"v")]
    write = Result.from_body(call(client, proxy, record(callee, "store", store_input(b"k", b"w")),
                                  function="run", op=Op.QUERY))
    assert write.ok and outcomes(write.output) == [(TRAP, b"")]  # the read-only callee's write
    assert client.state_get(callee, b"k")[0] == b"v"


def test_a_callee_scans_its_own_namespace_through_the_broker(client: Client, proxy: str, callee: str) -> None:
    stores = [record(callee, "store", store_input(key, value)) for key, value in ((b"b", b"2"), (b"a", b"1"))]
    assert call(client, proxy, *stores)["status"] == Status.OK
    result = Result.from_body(call(client, proxy, record(callee, "scan"), function="run", op=Op.QUERY))
    entries = struct.pack("<II", 1, 1) + b"a1" + struct.pack("<II", 1, 1) + b"b2"
    assert result.ok and outcomes(result.output) == [(OK, entries)]  # its entries, not the proxy's "out"


def test_a_query_and_all_it_calls_share_the_query_gas_cap(pool: Pool, client: Client, proxy: str,
                                                          callee: str) -> None:
    cap = pool.thread.broker.core.config.query_gas
    asked = Result.from_body(call(client, proxy, record(callee, "gas"), function="run", op=Op.QUERY,
                                  gas_limit=10 * cap))  # gas 0: the callee gets all the query has left
    ((code, left),) = outcomes(asked.output)
    assert asked.ok and code == OK
    assert cap - 50_000 < struct.unpack("<Q", left)[0] < cap  # under the query's cap, not its gas_limit
    as_call = Result.from_body(call(client, proxy, record(callee, "gas"), function="run", gas_limit=10 * cap))
    assert struct.unpack("<Q", outcomes(as_call.output)[0][1])[0] > cap  # a call is not capped


# --- concurrency ---------------------------------------------------------------------------------------


def test_concurrent_moves_through_different_proxies_in_one_shared_ledger_are_serializable(
        pool: Pool, client: Client, codes: dict[str, str]) -> None:
    ledger = instance(client, codes["ledger"])
    proxies = [instance(client, codes["proxy"]) for _ in range(4)]
    per_thread, threads = 8, 6

    def mover(index: int) -> list[int]:
        codes_seen = []
        with pool.client() as own:
            for n in range(per_thread):
                account = (index + n) % len(proxies)
                body = call(own, proxies[account], record(ledger, "move", move_input(255, account, 1)),
                            function="run")
                assert body["status"] == Status.OK, body.get("error")
                codes_seen.append(outcomes(body["output"])[0][0])
        return codes_seen

    with ThreadPoolExecutor(threads) as executor:
        seen = [code for codes_ in executor.map(mover, range(threads)) for code in codes_]
    assert seen == [OK] * per_thread * threads
    expected = Counter((index + n) % len(proxies) for index in range(threads) for n in range(per_thread))
    assert balance(client, ledger, 255) == -per_thread * threads  # no lost update
    assert [balance(client, ledger, account) for account in range(len(proxies))] == [
        expected[account] for account in range(len(proxies))]


def test_a_migrate_of_the_callee_during_calls_orders_every_call_before_or_after_it(
        pool: Pool, client: Client, codes: dict[str, str]) -> None:
    callee = instance(client, codes["callee"])
    proxies = [instance(client, codes["proxy"]) for _ in range(10)]
    moved = threading.Event()
    migrate_result: list[Result] = []

    def caller(index: int) -> int:
        with pool.client() as own:
            body = call(own, proxies[index], record(callee, "store", store_input(b"k%d" % index, b"v")))
            assert body["status"] == Status.OK, body.get("error")
            return outcomes(body["output"])[0][0]

    def migrator() -> None:
        with pool.client() as own:
            migrate_result.append(own.migrate(callee, codes["ledger"], caller=ADMIN))  # no `store` there
        moved.set()

    with ThreadPoolExecutor(4) as executor:
        futures = [executor.submit(caller, index) for index in range(5)]
        executor.submit(migrator)
        futures += [executor.submit(caller, index) for index in range(5, 10)]
        seen = [future.result() for future in futures]
    assert moved.wait(30) and migrate_result[0].ok
    info = client.contract_info(callee)
    migrated_at = info.history[-1]["sequence"]
    for index, code in enumerate(seen):
        committed_at = client.state_get(proxies[index], b"out")[1]  # the call's commit
        stored = client.state_get(callee, b"k%d" % index)[0]
        if code == OK:  # ran the old code: committed before the migrate, its write with it
            assert committed_at < migrated_at and stored == b"v"
        else:  # ran the new code, which has no `store`: after the migrate, nothing of the callee's
            assert code == ERROR and committed_at > migrated_at and stored is None

