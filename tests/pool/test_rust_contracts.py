"""The Rust SDK's example contracts (examples/rust/, built by sdk/rust/build.sh) in a real pool.

The counter uses only ABI v1 functions, the token v1 plus iteration (its
``holders`` query; tests/pool/test_rust_holders.py) and events: deployed
through a real broker, called on real worker processes, their state in
SQLite. The swap and the multisig call other contracts (ABI v2); their
calls run in tests/pool/test_rust_swap.py and test_rust_multisig.py, and
here the deploy checks admit them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.pool.conftest import unique
from wasmpool import wasm
from wasmpool.client import Client
from wasmpool.wire.protocol import Status

RUST = Path(__file__).resolve().parents[2] / "examples" / "rust"
V1 = frozenset({"input_len", "get_input", "set_output", "get_state", "put_state", "delete_state", "log",
                "revert", "caller", "block_height", "block_time"})
"""The ABI v1 (docs/abi.md)."""
ALICE, BOB, CAROL = {"caller": b"alice"}, {"caller": b"bob"}, {"caller": b"carol"}
SWAP_V2 = {"self_address", "call_contract", "return_data", "emit_event"}
MULTISIG_V2 = SWAP_V2 | {"ed25519_verify"}
TOOLBOX_V2 = {"state_scan", "state_next", "sha256", "keccak256", "blake2b256", "ed25519_verify",
              "secp256k1_verify", "secp256k1_recover", "emit_event", "gas_left"}


def module(name: str) -> bytes:
    return (RUST / f"{name}.wasm").read_bytes()


def imports(name: str) -> set[str]:
    return {imp.name for imp in wasm.decode(module(name)).imports if imp.module == "env"}


@pytest.fixture
def counter(client: Client) -> str:
    return client.deploy(unique(module("counter")))


@pytest.fixture
def token(client: Client) -> str:
    """A Rust token instantiated by alice (its owner), who minted 100 to herself."""
    code = client.deploy(unique(module("token")))
    assert client.call(code, "instantiate", context=ALICE).ok
    assert client.call(code, "mint", input=b"alice 100", context=ALICE).ok
    return code


def number(client: Client, code: str, function: str, text: bytes) -> int:
    result = client.query(code, function, input=text)
    assert result.ok, result.error
    return int(result.results[0])


def test_the_committed_modules_are_the_ones_their_checksums_name() -> None:
    lines = (RUST / "SHA256SUMS").read_text().splitlines()
    sums = {name: digest for digest, name in (line.split() for line in lines)}
    assert set(sums) == {"counter.wasm", "token.wasm", "swap.wasm", "toolbox.wasm", "multisig.wasm"}
    for name, digest in sums.items():
        assert hashlib.sha256((RUST / name).read_bytes()).hexdigest() == digest


def test_a_contract_imports_only_the_host_functions_it_uses() -> None:
    assert imports("counter") == {"input_len", "get_input", "get_state", "put_state", "revert"}
    assert imports("token") - V1 == {"state_scan", "state_next", "emit_event"}
    assert {"log", "caller"} <= imports("token")
    assert imports("swap") - V1 == SWAP_V2
    assert imports("toolbox") - V1 == TOOLBOX_V2
    assert imports("multisig") - V1 == MULTISIG_V2


def test_the_counter_counts_adds_and_keeps_its_count_in_state(client: Client, counter: str) -> None:
    assert [client.call(counter, "increment").results for _ in range(3)] == [[1], [2], [3]]
    added = client.call(counter, "add", input=b"10")
    assert added.ok and added.results == [13]
    assert client.query(counter, "get").results == [13]
    assert client.state_get(counter, b"count")[0] == (13).to_bytes(8, "little")


def test_a_counter_error_reverts_with_its_message_and_writes_nothing(client: Client, counter: str) -> None:
    client.call(counter, "increment")
    refused = client.call(counter, "add", input=b"ten")
    assert refused.status is Status.REVERTED and refused.error == "bad number"
    assert client.query(counter, "get").results == [1]


def test_a_panic_reverts_with_the_panic_message_and_writes_nothing(client: Client, counter: str) -> None:
    big = b"9999999999999999999"
    assert client.call(counter, "add", input=big).ok
    overflow = client.call(counter, "add", input=big)
    assert overflow.status is Status.REVERTED and overflow.error == "attempt to add with overflow"
    assert client.state_get(counter, b"count")[0] == (9999999999999999999).to_bytes(8, "little")


def test_a_query_of_the_counter_cannot_write(client: Client, counter: str) -> None:
    result = client.query(counter, "increment")
    assert result.status is Status.ERROR and "read-only" in (result.error or "")
    assert client.query(counter, "get").results == [0]


def test_the_token_mints_transfers_and_reports_balances(client: Client, token: str) -> None:
    sent = client.call(token, "transfer", input=b"bob 30", context=ALICE)
    assert sent.ok and sent.logs == [b"transfer alice bob 30"]
    assert sent.events == [(b"transfer", [(b"from", b"alice"), (b"to", b"bob"), (b"amount", b"30")])]
    assert number(client, token, "balance", b"alice") == 70
    balance = client.query(token, "balance", input=b"bob")
    assert (balance.results, balance.output) == ([30], b"30")
    assert number(client, token, "total_supply", b"") == 100
    assert client.state_get(token, b"bal:bob")[0] == (30).to_bytes(8, "little")
    assert client.state_get(token, b"owner")[0] == b"alice"


def test_only_the_owner_mints_and_only_once_instantiated(client: Client, token: str) -> None:
    refused = client.call(token, "mint", input=b"bob 5", context=BOB)
    assert refused.status is Status.REVERTED and refused.error == "only the owner may mint"
    again = client.call(token, "instantiate", context=BOB)
    assert again.status is Status.REVERTED and again.error == "already instantiated"
    assert client.state_get(token, b"owner")[0] == b"alice"
    assert number(client, token, "total_supply", b"") == 100


def test_a_short_transfer_reverts_and_moves_nothing(client: Client, token: str) -> None:
    refused = client.call(token, "transfer", input=b"bob 101", context=ALICE)
    assert refused.status is Status.REVERTED and refused.error == "insufficient balance"
    assert refused.logs == []
    assert number(client, token, "balance", b"alice") == 100
    assert client.state_get(token, b"bal:bob") == (None, 0)


@pytest.mark.parametrize(("text", "message"), [
    (b"bob", "expected: TO AMOUNT"),
    (b"bob 1 2", "expected: TO AMOUNT"),
    (b"bob -1", "bad amount: expected 1 to 19 decimal digits"),
    (b"bob 12345678901234567890", "bad amount: expected 1 to 19 decimal digits"),
])
def test_a_malformed_transfer_reverts_naming_what_is_expected(client: Client, token: str, text: bytes,
                                                              message: str) -> None:
    refused = client.call(token, "transfer", input=text, context=ALICE)
    assert refused.status is Status.REVERTED and refused.error == message


def test_an_allowance_lets_a_spender_move_tokens_up_to_it(client: Client, token: str) -> None:
    assert client.call(token, "approve", input=b"carol 40", context=ALICE).ok
    assert number(client, token, "allowance", b"alice carol") == 40
    moved = client.call(token, "transfer_from", input=b"alice bob 25", context=CAROL)
    assert moved.ok and moved.logs == [b"transfer alice bob 25"]
    assert number(client, token, "allowance", b"alice carol") == 15
    over = client.call(token, "transfer_from", input=b"alice bob 16", context=CAROL)
    assert over.status is Status.REVERTED and over.error == "allowance exceeded"
    stranger = client.call(token, "transfer_from", input=b"alice bob 1", context=BOB)
    assert stranger.status is Status.REVERTED and stranger.error == "allowance exceeded"
    assert [number(client, token, "balance", who) for who in (b"alice", b"bob", b"carol")] == [75, 25, 0]


def test_an_allowance_above_the_balance_still_cannot_overdraw(client: Client, token: str) -> None:
    assert client.call(token, "approve", input=b"carol 500", context=ALICE).ok
    refused = client.call(token, "transfer_from", input=b"alice carol 101", context=CAROL)
    assert refused.status is Status.REVERTED and refused.error == "insufficient balance"
    assert number(client, token, "allowance", b"alice carol") == 500


def test_two_deployments_of_the_token_keep_separate_ledgers(client: Client, token: str) -> None:
    other = client.deploy(unique(module("token")))
    assert client.call(other, "instantiate", context=BOB).ok
    assert client.call(other, "mint", input=b"bob 7", context=BOB).ok
    assert number(client, other, "balance", b"alice") == 0
    assert number(client, token, "balance", b"bob") == 0
    assert number(client, other, "total_supply", b"") == 7


def test_a_caller_that_is_not_text_is_written_as_hex(client: Client, token: str) -> None:
    assert client.call(token, "transfer", input=b"fffe 10", context=ALICE).ok
    moved = client.call(token, "transfer", input=b"bob 4", context={"caller": b"\xff\xfe"})
    assert moved.ok and moved.logs == [b"transfer fffe bob 4"]
    assert number(client, token, "balance", b"fffe") == 6


@pytest.mark.parametrize("name", ["swap", "multisig"])
def test_the_contracts_that_call_contracts_deploy(client: Client, name: str) -> None:
    assert "call_contract" in imports(name) and "return_data" in imports(name)
    assert len(client.deploy(unique(module(name)))) == 64
