"""The Rust swap (examples/rust/swap.rs) calling two Rust tokens, before the pool can.

The pool cannot deploy the swap until it has contract calls (issue 16;
tests/pool/test_rust_contracts.py pins that refusal). Meanwhile these tests
run the real modules in the real engine with the worker's ABI v1 host, and
the contract imports from :mod:`tests.contract_calls`, a stand-in with the
issue's semantics: they check the swap's arithmetic, its token calls, its
event, and that it reverts cleanly, moving nothing, when a token call fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract_calls import CallCode, Outcome, Platform

RUST = Path(__file__).resolve().parents[1] / "examples" / "rust"
TOKEN_A, TOKEN_B, SWAP, BROKEN = b"\x0a" * 20, b"\x0b" * 20, b"\x05" * 20, b"\x0c" * 20
HEX = {name: address.hex().encode() for name, address in
       [("a", TOKEN_A), ("b", TOKEN_B), ("swap", SWAP), ("broken", BROKEN)]}


def ok(outcome: Outcome) -> Outcome:
    assert outcome.code is CallCode.OK, outcome.output
    return outcome


def balance(platform: Platform, token: bytes, account: bytes) -> int:
    return int(ok(platform.call(token, "balance", account)).results[0])


@pytest.fixture
def platform() -> Platform:
    """Two tokens owned by alice, who holds 1000 of each, approved the swap for them, and gave bob 100 a."""
    made = Platform()
    made.add(SWAP, (RUST / "swap.wasm").read_bytes())
    made.add(BROKEN, (RUST / "counter.wasm").read_bytes())  # no transfer_from: every call to it fails
    for token in (TOKEN_A, TOKEN_B):
        made.add(token, (RUST / "token.wasm").read_bytes())
        ok(made.call(token, "instantiate", caller=b"alice"))
        ok(made.call(token, "mint", b"alice 1000", caller=b"alice"))
        ok(made.call(token, "approve", HEX["swap"] + b" 1000", caller=b"alice"))
    ok(made.call(TOKEN_A, "transfer", b"bob 100", caller=b"alice"))
    ok(made.call(SWAP, "instantiate", HEX["a"] + b" " + HEX["b"], caller=b"alice"))
    ok(made.call(SWAP, "add_liquidity", b"500 500", caller=b"alice"))
    return made


def test_liquidity_moves_into_the_swaps_account_on_both_tokens(platform: Platform) -> None:
    assert ok(platform.call(SWAP, "reserves")).output == b"500 500"
    assert [balance(platform, t, HEX["swap"]) for t in (TOKEN_A, TOKEN_B)] == [500, 500]
    assert [balance(platform, t, b"alice") for t in (TOKEN_A, TOKEN_B)] == [400, 500]


def test_a_swap_pays_the_constant_product_price_and_emits_an_event(platform: Platform) -> None:
    ok(platform.call(TOKEN_A, "approve", HEX["swap"] + b" 100", caller=b"bob"))
    swapped = ok(platform.call(SWAP, "swap", b"a 100 80", caller=b"bob"))
    out = 100 * 997 * 500 // (500 * 1000 + 100 * 997)
    assert swapped.results == [out] == [83]
    assert ok(platform.call(SWAP, "reserves")).output == b"600 417"
    assert [balance(platform, TOKEN_A, b"bob"), balance(platform, TOKEN_B, b"bob")] == [0, 83]
    assert [balance(platform, t, HEX["swap"]) for t in (TOKEN_A, TOKEN_B)] == [600, 417]
    assert swapped.events == [
        (b"transfer", [(b"from", b"bob"), (b"to", HEX["swap"]), (b"amount", b"100")]),
        (b"transfer", [(b"from", HEX["swap"]), (b"to", b"bob"), (b"amount", b"83")]),
        (b"swap", [(b"trader", b"bob"), (b"sold", b"token a"), (b"in", b"100"), (b"out", b"83")])]


def test_a_swap_below_its_minimum_reverts_before_any_token_call(platform: Platform) -> None:
    ok(platform.call(TOKEN_A, "approve", HEX["swap"] + b" 100", caller=b"bob"))
    refused = platform.call(SWAP, "swap", b"a 100 84", caller=b"bob")
    assert (refused.code, refused.output) == (CallCode.REVERTED, b"output 83 below the minimum 84")
    assert balance(platform, TOKEN_A, b"bob") == 100


def test_a_failing_token_call_reverts_the_swap_with_the_tokens_reason(platform: Platform) -> None:
    refused = platform.call(SWAP, "swap", b"a 100 1", caller=b"bob")  # bob approved nothing
    assert (refused.code, refused.output) == (CallCode.REVERTED, b"token a transfer_from: allowance exceeded")
    assert ok(platform.call(SWAP, "reserves")).output == b"500 500"
    assert balance(platform, TOKEN_A, b"bob") == 100


def test_when_the_second_token_call_fails_the_first_ones_transfer_is_undone(platform: Platform) -> None:
    broken_pool = b"\x06" * 20  # a second swap, whose token b is the counter
    platform.add(broken_pool, (RUST / "swap.wasm").read_bytes())
    ok(platform.call(broken_pool, "instantiate", HEX["a"] + b" " + HEX["broken"], caller=b"alice"))
    ok(platform.call(TOKEN_A, "approve", broken_pool.hex().encode() + b" 10", caller=b"alice"))
    refused = platform.call(broken_pool, "add_liquidity", b"10 10", caller=b"alice")
    assert (refused.code, refused.output) == (CallCode.REVERTED, b"token b transfer_from: call refused")
    assert balance(platform, TOKEN_A, b"alice") == 400  # token a's transfer_from ran, then was discarded
    assert balance(platform, TOKEN_A, broken_pool.hex().encode()) == 0
    allowance = ok(platform.call(TOKEN_A, "allowance", b"alice " + broken_pool.hex().encode()))
    assert allowance.results == [10]


def test_a_bad_side_or_amount_reverts_naming_the_input_expected(platform: Platform) -> None:
    for text, message in [(b"c 1 1", b"side must be a or b"), (b"a 1", b"expected: a|b AMOUNT_IN MIN_OUT"),
                          (b"a x 1", b"bad amount: expected 1 to 19 decimal digits")]:
        refused = platform.call(SWAP, "swap", text, caller=b"bob")
        assert (refused.code, refused.output) == (CallCode.REVERTED, message)
