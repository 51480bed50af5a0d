"""Contract instances over real workers, sockets and SQLite: instantiate, isolated state, migrate, addresses.

The fixture ``instances.wat`` keeps its instantiate input under ``init`` and
its creator under ``owner`` (the input ``no`` reverts after writing both),
its migrate input under ``migrated``, and counts calls of ``bump`` under
``n``; ``me`` answers its own address (``self_address``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
from pathlib import Path

import pytest

from tests.pool.conftest import FIXTURES, TEST_CONFIG, Pool, rebind, start_pool, unique
from wasmpool.cli import main
from wasmpool.client import AsyncClient, Client
from wasmpool.wire import errors
from wasmpool.wire.protocol import ErrorCode, Status
from wasmpool.wire.protocol import contract_address as derive_address
from wasmpool.wire.receipts import BlockCall

ALICE, BOB = b"alice", b"bob"


@pytest.fixture(scope="module")
def instances_wasm() -> bytes:
    return (FIXTURES / "instances.wasm").read_bytes()


@pytest.fixture
def code(client: Client, instances_wasm: bytes) -> str:
    return client.deploy(unique(instances_wasm))


def test_the_address_is_the_documented_derivation(code: str) -> None:
    salt = b"s1"
    expected = hashlib.sha256(b"wasmpool/contract/v1" + struct.pack("<I", len(ALICE)) + ALICE
                              + bytes.fromhex(code) + struct.pack("<I", len(salt)) + salt).digest()[:20]
    assert derive_address(ALICE, code, salt) == expected
    assert derive_address(BOB, code, salt) != expected and derive_address(ALICE, code, b"s2") != expected


def test_instantiate_runs_the_export_in_the_new_namespace(client: Client, code: str) -> None:
    made = client.instantiate(code, b"hello", salt=b"a", caller=ALICE)
    assert made.ok and made.address == derive_address(ALICE, code, b"a").hex()
    assert client.state_get(made.address, b"init")[0] == b"hello"
    assert client.state_get(made.address, b"owner")[0] == ALICE
    assert client.state_get(code, b"init") == (None, 0)  # the code's own (legacy) namespace is untouched
    me = client.call(made.address, "me")
    assert me.ok and me.results == [20] and me.output == bytes.fromhex(made.address)


def test_a_failing_instantiate_leaves_no_contract_and_no_writes(client: Client, code: str) -> None:
    refused = client.instantiate(code, b"no", salt=b"f", caller=ALICE)
    assert refused.result.status is Status.REVERTED and refused.address == ""
    address = derive_address(ALICE, code, b"f").hex()
    with pytest.raises(errors.UnknownContract):
        client.contract_info(address)
    with pytest.raises(errors.UnknownContract):
        client.call(address, "bump")
    with pytest.raises(errors.UnknownContract):
        client.state_get(address, b"init")
    again = client.instantiate(code, b"yes", salt=b"f", caller=ALICE)  # the address is still free
    assert again.ok and again.address == address
    assert client.state_get(address, b"init")[0] == b"yes"


def test_instantiate_of_a_code_without_the_export(client: Client, probe_wasm: bytes) -> None:
    probe = client.deploy(unique(probe_wasm))
    made = client.instantiate(probe, salt=b"p", caller=ALICE)
    assert made.ok and made.result.gas_used > 0
    assert client.call(made.address, "put", input=b"v").ok
    assert client.state_get(made.address, b"k")[0] == b"v" and client.state_get(probe, b"k") == (None, 0)


def test_an_address_is_taken_once(client: Client, code: str) -> None:
    assert client.instantiate(code, salt=b"once", caller=ALICE).ok
    with pytest.raises(errors.ContractExists):
        client.instantiate(code, salt=b"once", caller=ALICE)
    assert client.instantiate(code, salt=b"once", caller=BOB).ok  # another creator: another address


def test_two_instances_of_one_code_have_their_own_state(client: Client, code: str) -> None:
    one = client.instantiate(code, salt=b"1", caller=ALICE).address
    two = client.instantiate(code, salt=b"2", caller=ALICE).address
    assert [client.call(one, "bump").results for _ in range(3)] == [[1], [2], [3]]
    assert client.call(two, "bump").results == [1]
    assert client.query(one, "count").results == [3] and client.query(two, "count").results == [1]
    assert client.call(code, "bump").results == [1]  # legacy: the code's own namespace, as before


def test_two_token_instances_of_one_code_keep_separate_ledgers(client: Client, token: str) -> None:
    one = client.instantiate(token, salt=b"t1", caller=ALICE).address
    two = client.instantiate(token, salt=b"t2", caller=ALICE).address
    owner = {"caller": ALICE}
    assert client.call(one, "mint", input=b"carol 100", context=owner).ok
    assert client.call(two, "mint", input=b"carol 7", context=owner).ok
    assert client.query(one, "balance_of", input=b"carol").results == [100]
    assert client.query(two, "balance_of", input=b"carol").results == [7]
    assert client.query(token, "balance_of", input=b"carol").results == [0]


def test_migrate_by_the_admin_keeps_state_and_records_history(client: Client, code: str,
                                                              instances_wasm: bytes) -> None:
    made = client.instantiate(code, b"v1", salt=b"m", admin=ALICE, caller=BOB)
    assert client.call(made.address, "bump").results == [1]
    newer = client.deploy(unique(instances_wasm))
    moved = client.migrate(made.address, newer, b"to-v2", caller=ALICE)
    assert moved.ok
    info = client.contract_info(made.address)
    assert info.code_id == newer and info.admin == ALICE and info.creator == BOB and info.salt == b"m"
    assert [(h["kind"], h["code_id"], h["by"]) for h in info.history] == [
        ("instantiate", code, BOB), ("migrate", newer, ALICE)]
    assert info.history[0]["sequence"] < info.history[1]["sequence"]
    assert client.state_get(made.address, b"migrated")[0] == b"to-v2"  # the new code's migrate ran
    assert client.call(made.address, "bump").results == [2]  # the state is kept


def test_migrate_is_refused_to_anyone_but_the_admin(client: Client, code: str, instances_wasm: bytes) -> None:
    newer = client.deploy(unique(instances_wasm))
    guarded = client.instantiate(code, salt=b"g", admin=ALICE, caller=ALICE).address
    with pytest.raises(errors.NotAdmin):
        client.migrate(guarded, newer, caller=BOB)
    fixed = client.instantiate(code, salt=b"x", caller=ALICE).address  # no admin: never migrates
    with pytest.raises(errors.NotAdmin):
        client.migrate(fixed, newer, caller=ALICE)
    assert client.contract_info(guarded).code_id == code and len(client.contract_info(guarded).history) == 1


def test_a_failing_migrate_changes_nothing(client: Client, code: str, probe_wasm: bytes) -> None:
    made = client.instantiate(code, salt=b"fm", admin=ALICE, caller=ALICE).address
    spinning = client.migrate(made, code, caller=ALICE, gas_limit=1)  # out of gas before it runs
    assert spinning.status is Status.OUT_OF_GAS
    assert len(client.contract_info(made).history) == 1


def test_an_unknown_address(client: Client) -> None:
    nobody = "ab" * 20
    for attempt in (lambda: client.call(nobody, "bump"), lambda: client.query(bytes.fromhex(nobody), "count"),
                    lambda: client.contract_info(nobody), lambda: client.migrate(nobody, "0" * 64)):
        with pytest.raises(errors.UnknownContract) as caught:
            attempt()
        assert caught.type is errors.UnknownContract
    assert ErrorCode.UNKNOWN_CONTRACT == 12


def test_a_legacy_call_has_no_address(client: Client, code: str) -> None:
    me = client.call(code, "me")
    assert me.ok and me.results == [0] and me.output == b""


def test_queries_are_capped_at_the_query_gas(client: Client, code: str) -> None:
    address = client.instantiate(code, salt=b"q", caller=ALICE).address
    query = client.query(address, "spin", gas_limit=TEST_CONFIG.max_gas)
    assert query.status is Status.OUT_OF_GAS and query.gas_used <= TEST_CONFIG.query_gas
    call = client.call(address, "spin", gas_limit=TEST_CONFIG.query_gas * 2)
    assert call.status is Status.OUT_OF_GAS and call.gas_used > TEST_CONFIG.query_gas  # calls are not capped


def test_contracts_survive_a_broker_restart(tmp_path: Path, instances_wasm: bytes) -> None:
    db = tmp_path / "state.db"
    first = start_pool(db, workers=1)
    try:
        first.wait_for_workers(1)
        with first.client() as client:
            code = client.deploy(instances_wasm)
            address = client.instantiate(code, b"kept", salt=b"r", admin=ALICE, caller=ALICE).address
            assert client.call(address, "bump").results == [1]
        workers, first.workers = first.workers, []
        first.stop()
        second = rebind(lambda: start_pool(db, 0, frontend=first.frontend, backend=first.backend))
        second.workers = workers
        try:
            second.wait_for_workers(1)
            with second.client() as client:
                assert client.contract_info(address).code_id == code
                assert client.call(address, "bump").results == [2]
                assert client.state_get(address, b"init")[0] == b"kept"
        finally:
            second.stop()
    finally:
        first.stop()


def wasmpool(pool: Pool, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main([*argv, "--connect", pool.frontend])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_cli_instantiates_calls_reads_migrates_and_shows_a_contract(
        pool: Pool, capsys: pytest.CaptureFixture[str], client: Client, code: str,
        instances_wasm: bytes) -> None:
    status, out, _ = wasmpool(pool, capsys, "instantiate", code, "--text", "hi", "--salt", "cli",
                              "--admin", "alice", "--caller", "bob")
    address = derive_address(BOB, code, b"cli").hex()
    assert status == 0 and f"address:  {address}" in out
    status, out, _ = wasmpool(pool, capsys, "call", address, "bump")
    assert status == 0 and "results:  1" in out
    status, out, _ = wasmpool(pool, capsys, "query", address, "count")
    assert status == 0 and "results:  1" in out
    status, out, _ = wasmpool(pool, capsys, "state", "get", address, "init")
    assert status == 0 and "'init' = 'hi'" in out
    newer = client.deploy(unique(instances_wasm))
    status, _, err = wasmpool(pool, capsys, "migrate", address, newer, "--caller", "bob")
    assert status == 2 and "NotAdmin" in err
    status, out, _ = wasmpool(pool, capsys, "migrate", address, newer, "--text", "v2", "--caller", "alice")
    assert status == 0 and "status:   ok" in out
    status, out, _ = wasmpool(pool, capsys, "contract", "info", address)
    assert status == 0 and f"code id:  {newer}" in out and "admin:    'alice'" in out
    assert re.search(rf"#\d+ instantiate +{code} by 'bob'", out)
    assert re.search(rf"#\d+ migrate +{newer} by 'alice'", out)
    status, _, err = wasmpool(pool, capsys, "contract", "info", "cd" * 20)
    assert status == 2 and "UnknownContract" in err
    status, out, _ = wasmpool(pool, capsys, "instantiate", code, "--text", "no", "--salt", "cli2")
    assert status == 1 and "reverted" in out and "address" not in out


def test_a_block_names_contracts_by_address(client: Client, code: str) -> None:
    one = client.instantiate(code, salt=b"blk1", caller=ALICE).address
    two = client.instantiate(code, salt=b"blk2", caller=ALICE).address
    calls = [BlockCall(target, function) for target, function in
             ((one, "bump"), (two, "bump"), (one, "bump"), (one, "me"), (code, "me"), (two, "count"))]
    result = client.execute_block(calls)
    assert [r.status for r in result.receipts] == [Status.OK] * 6
    assert [r.results for r in result.receipts] == [(1,), (1,), (2,), (20,), (0,), (1,)]
    assert result.receipts[3].output == bytes.fromhex(one) and result.receipts[4].output == b""
    assert client.query(one, "count").results == [2] and client.query(two, "count").results == [1]
    with pytest.raises(errors.UnknownContract):
        client.execute_block([BlockCall("ef" * 20, "bump")])


def test_the_async_client_instantiates_migrates_and_calls_by_address(pool: Pool, code: str,
                                                                      instances_wasm: bytes) -> None:
    async def run() -> tuple[str, list[int], str]:
        async with AsyncClient(pool.frontend) as client:
            made = await client.instantiate(code, b"async", salt=b"as", admin=ALICE, caller=ALICE)
            bumped = await client.call(made.address, "bump")
            newer = await client.deploy(unique(instances_wasm))
            assert (await client.migrate(made.address, newer, caller=ALICE)).ok
            info = await client.contract_info(made.address)
            assert (await client.state_get(made.address, b"init"))[0] == b"async"
            return made.address, [int(r) for r in bumped.results], info.code_id

    address, results, code_now = asyncio.run(run())
    assert address == derive_address(ALICE, code, b"as").hex() and results == [1] and code_now != code
