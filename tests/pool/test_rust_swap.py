"""The Rust swap (examples/rust/swap.rs) between two instances of the Rust token, in a real pool.

Everything is real: one token code deployed once and instantiated twice
(two ledgers at two addresses), the swap instantiated with their
addresses, the calls between them made by ``call_contract`` inside a
worker process, the tokens' state read through the broker and committed
to SQLite with the swap's in one transaction. The tests check the swap's
arithmetic in both directions, what moves on each ledger, the events
(the tokens' carry their emitter), and that a swap whose token call fails
reverts with the token's reason and moves nothing, even when the first of
its two token calls had succeeded.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pool.conftest import Pool
from wasmpool.cli import main
from wasmpool.client import Client, Result
from wasmpool.wire.protocol import Status

RUST = Path(__file__).resolve().parents[2] / "examples" / "rust"
ALICE, BOB, CAROL = b"alice", b"bob", b"carol"
_salts = itertools.count()


@dataclass(frozen=True)
class Codes:
    token: str
    swap: str
    counter: str


@dataclass(frozen=True)
class Market:
    """Two tokens (``a``, ``b``) of one code and a swap between them, all at their addresses (40 hex)."""

    a: str
    b: str
    swap: str


@pytest.fixture(scope="module")
def codes(pool: Pool) -> Codes:
    """The token, swap and counter codes, deployed once: every test makes its own instances of them."""
    with pool.client() as client:
        deployed = [client.deploy((RUST / f"{name}.wasm").read_bytes()) for name in ("token", "swap",
                                                                                   "counter")]
    return Codes(*deployed)


def instance(client: Client, code_id: str, init: bytes = b"") -> str:
    """A fresh instance of ``code_id`` made by alice (a new salt each time: a new address and ledger)."""
    made = client.instantiate(code_id, init, salt=f"swap-test-{next(_salts)}".encode(), caller=ALICE)
    assert made.ok, made.result.error
    return made.address


def call(client: Client, address: str, function: str, text: str | bytes, caller: bytes) -> Result:
    data = text.encode() if isinstance(text, str) else text
    return client.call(address, function, input=data, context={"caller": caller})


def ok(result: Result) -> Result:
    assert result.ok, result.error
    return result


def balance(client: Client, token: str, account: str | bytes) -> int:
    return int(ok(client.query(token, "balance", input=account.encode() if isinstance(account, str)
                               else account)).results[0])


def reserves(client: Client, market: Market) -> bytes:
    return ok(client.query(market.swap, "reserves")).output


def price(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """What the swap pays out: constant product, less the 0.3 % fee kept in the pool."""
    paid = amount_in * 997
    return paid * reserve_out // (reserve_in * 1000 + paid)


@pytest.fixture
def market(client: Client, codes: Codes) -> Iterator[Market]:
    """Alice owns both tokens, minted 1000 of each to herself, gave bob 100 a, and added 500 of each."""
    a, b = instance(client, codes.token), instance(client, codes.token)
    swap = instance(client, codes.swap, f"{a} {b}".encode())
    for token in (a, b):
        ok(call(client, token, "mint", "alice 1000", ALICE))
        ok(call(client, token, "approve", f"{swap} 500", ALICE))
    ok(call(client, a, "transfer", "bob 100", ALICE))
    ok(call(client, swap, "add_liquidity", "500 500", ALICE))
    yield Market(a, b, swap)


def test_two_instances_of_one_token_code_keep_two_ledgers(client: Client, codes: Codes,
                                                          market: Market) -> None:
    assert client.contract_info(market.a).code_id == client.contract_info(market.b).code_id == codes.token
    assert [balance(client, t, "alice") for t in (market.a, market.b)] == [400, 500]
    assert [balance(client, t, "bob") for t in (market.a, market.b)] == [100, 0]


def test_liquidity_moves_into_the_swaps_account_on_both_tokens(client: Client, market: Market) -> None:
    assert reserves(client, market) == b"500 500"
    assert [balance(client, t, market.swap) for t in (market.a, market.b)] == [500, 500]
    assert [ok(client.query(t, "allowance", input=f"alice {market.swap}".encode())).results
            for t in (market.a, market.b)] == [[0], [0]]


def test_swaps_in_both_directions_pay_the_constant_product_price(client: Client, market: Market) -> None:
    ok(call(client, market.a, "approve", f"{market.swap} 100", BOB))
    sold_a = ok(call(client, market.swap, "swap", "a 100 80", BOB))
    assert sold_a.results == [price(100, 500, 500)] == [83]
    assert reserves(client, market) == b"600 417"
    ok(call(client, market.b, "approve", f"{market.swap} 83", BOB))
    sold_b = ok(call(client, market.swap, "swap", "b 83 1", BOB))
    assert sold_b.results == [price(83, 417, 600)] == [99]
    assert reserves(client, market) == b"501 500"
    assert [balance(client, market.a, "bob"), balance(client, market.b, "bob")] == [99, 0]
    assert [balance(client, t, market.swap) for t in (market.a, market.b)] == [501, 500]
    assert [ok(client.query(t, "total_supply")).results for t in (market.a, market.b)] == [[1000], [1000]]


def test_a_swap_emits_the_tokens_transfers_with_their_emitter_then_its_own_event(client: Client,
                                                                                 market: Market) -> None:
    ok(call(client, market.a, "approve", f"{market.swap} 100", BOB))
    swapped = ok(call(client, market.swap, "swap", "a 100 1", BOB))
    me = market.swap.encode()
    assert swapped.events == [
        (b"transfer", [(b"from", b"bob"), (b"to", me), (b"amount", b"100")], bytes.fromhex(market.a)),
        (b"transfer", [(b"from", me), (b"to", b"bob"), (b"amount", b"83")], bytes.fromhex(market.b)),
        (b"swap", [(b"trader", b"bob"), (b"sold", b"token a"), (b"in", b"100"), (b"out", b"83")]),
    ]
    assert swapped.writes.keys() == {b"reserve_a", b"reserve_b"}  # the swap's own; the tokens' are nested
    assert swapped.nested_writes.keys() == {market.a, market.b}


def test_a_swap_below_its_minimum_reverts_before_any_token_call(client: Client, market: Market) -> None:
    ok(call(client, market.a, "approve", f"{market.swap} 100", BOB))
    refused = call(client, market.swap, "swap", "a 100 84", BOB)
    assert (refused.status, refused.error) == (Status.REVERTED, "output 83 below the minimum 84")
    assert balance(client, market.a, "bob") == 100 and refused.events == []


def test_a_failing_token_call_reverts_the_swap_with_the_tokens_reason(client: Client, market: Market) -> None:
    refused = call(client, market.swap, "swap", "a 100 1", BOB)  # bob approved nothing
    assert (refused.status, refused.error) == (Status.REVERTED, "token a transfer_from: allowance exceeded")
    assert (refused.writes, refused.events) == ({}, [])
    assert reserves(client, market) == b"500 500"
    assert [balance(client, market.a, "bob"), balance(client, market.b, "bob")] == [100, 0]


def test_when_the_second_token_call_fails_the_first_ones_transfer_is_undone(client: Client, codes: Codes,
                                                                            market: Market) -> None:
    broken = instance(client, codes.counter)  # a contract with no transfer_from: the call returns 4
    pool_ab = instance(client, codes.swap, f"{market.a} {broken}".encode())
    ok(call(client, market.a, "approve", f"{pool_ab} 10", ALICE))
    refused = call(client, pool_ab, "add_liquidity", "10 10", ALICE)
    assert (refused.status, refused.error) == (Status.REVERTED, "token b transfer_from: call refused")
    assert balance(client, market.a, "alice") == 400  # token a's transfer_from ran, then was discarded
    assert balance(client, market.a, pool_ab) == 0
    assert ok(client.query(market.a, "allowance", input=f"alice {pool_ab}".encode())).results == [10]
    assert client.state_get(pool_ab, b"reserve_a") == (None, 0)


@pytest.mark.parametrize(("text", "message"), [
    ("c 1 1", "side must be a or b"),
    ("a 1", "expected: a|b AMOUNT_IN MIN_OUT"),
    ("a x 1", "bad amount: expected 1 to 19 decimal digits"),
])
def test_a_bad_side_or_amount_reverts_naming_the_input_expected(client: Client, market: Market, text: str,
                                                                message: str) -> None:
    refused = call(client, market.swap, "swap", text, BOB)
    assert (refused.status, refused.error) == (Status.REVERTED, message)


def test_concurrent_swaps_keep_each_ledger_equal_to_the_reserves(pool: Pool, client: Client,
                                                                 market: Market) -> None:
    """Swaps racing on two workers read both ledgers and the reserves; stale ones are executed again."""
    for token in (market.a, market.b):
        ok(call(client, token, "approve", f"{market.swap} 400", ALICE))
    sides = ["a 40 1", "b 40 1"] * 3

    def swap(text: str) -> Result:
        with pool.client() as own:
            return call(own, market.swap, "swap", text, ALICE)

    with ThreadPoolExecutor(len(sides)) as threads:
        results = list(threads.map(swap, sides))
    assert all(r.ok for r in results), [r.error for r in results]
    reserve_a, reserve_b = map(int, reserves(client, market).split())
    assert [balance(client, t, market.swap) for t in (market.a, market.b)] == [reserve_a, reserve_b]
    assert balance(client, market.a, "alice") + reserve_a + 100 == 1000
    assert balance(client, market.b, "alice") + reserve_b == 1000


def test_the_cli_prints_a_swaps_events_naming_the_tokens_as_emitters(
        pool: Pool, client: Client, market: Market, capsys: pytest.CaptureFixture[str]) -> None:
    ok(call(client, market.a, "approve", f"{market.swap} 10", BOB))
    status = main(["call", market.swap, "swap", "--text", "a 10 1", "--caller", "bob",
                   "--connect", pool.frontend])
    out = capsys.readouterr().out
    assert status == 0
    events = [line for line in out.splitlines() if line.startswith("event:")]
    assert events == [
        f"event:    transfer from='bob' to='{market.swap}' amount='10' (emitter {market.a})",
        f"event:    transfer from='{market.swap}' to='bob' amount='9' (emitter {market.b})",
        "event:    swap trader='bob' sold='token a' in='10' out='9'",
    ]
    nested = {line.rsplit("(in ", 1)[1].rstrip(")") for line in out.splitlines()
              if line.startswith("write:") and "(in " in line}
    assert nested == {market.a, market.b}
