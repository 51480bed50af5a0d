"""The Rust token's ``holders`` query (examples/rust/token.rs) in a real pool.

``holders "SIZE [AFTER]"`` lists one page of balances in bytewise account
order: a line ``ACCOUNT BALANCE`` per holder, then ``next ACCOUNT`` (the
cursor) or ``end``. These tests deploy the token to a real broker over
SQLite and run it on real worker processes: they mint to more accounts than
one page holds and than one page of the broker's ``scan`` CALLBACK holds (256
entries), walk every page, and check cursors, transfers between pages, the
page size's limits, the empty token, and that a page read while transfers
commit equals the state after some serial order of those transfers.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from tests.pool.conftest import Pool, unique
from wasmpool.client import Client
from wasmpool.wire.protocol import MAX_SCAN_PAGE, Status

RUST = Path(__file__).resolve().parents[2] / "examples" / "rust"
OWNER = {"caller": b"owner"}
MAX_PAGE = 100
MANY = MAX_SCAN_PAGE + 54
"""More holders than a page of the broker's scan CALLBACK and than three holders pages."""

Page = tuple[list[tuple[bytes, int]], bytes | None]


@pytest.fixture
def token(client: Client) -> str:
    """A fresh Rust token owned by ``owner``, with no holders yet."""
    code = client.deploy(unique((RUST / "token.wasm").read_bytes()))
    assert client.call(code, "instantiate", context=OWNER).ok
    return code


def mint(client: Client, code: str, balances: dict[bytes, int]) -> None:
    for account, amount in balances.items():
        minted = client.call(code, "mint", input=account + b" %d" % amount, context=OWNER)
        assert minted.ok, minted.error


def parse(output: bytes) -> Page:
    """The page's holders and its cursor (None at the end), from the documented text encoding."""
    assert output.endswith(b"\n")
    *rows, last = output[:-1].split(b"\n")
    holders = [(account, int(amount)) for account, amount in (row.split(b" ") for row in rows)]
    if last == b"end":
        return holders, None
    word, cursor = last.split(b" ")
    assert word == b"next"
    return holders, cursor


def page(client: Client, code: str, size: int, after: bytes | None = None) -> Page:
    text = b"%d" % size if after is None else b"%d %s" % (size, after)
    result = client.query(code, "holders", input=text)
    assert result.ok, result.error
    holders, cursor = parse(result.output)
    assert result.results == [len(holders)]
    return holders, cursor


def walk(client: Client, code: str, size: int) -> list[Page]:
    """Every page from the first, following the cursors."""
    pages, cursor = [page(client, code, size)], None
    while (cursor := pages[-1][1]) is not None:
        pages.append(page(client, code, size, cursor))
    return pages


def accounts(count: int, seed: int) -> dict[bytes, int]:
    """``count`` distinct graphic-ASCII accounts of mixed lengths and cases, with balances."""
    rng = random.Random(seed)
    alphabet = b"ABCXYZabcxyz0189_-~"
    made: dict[bytes, int] = {}
    while len(made) < count:
        name = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        made[name] = rng.randint(1, 10**12)
    return made


def test_every_page_together_lists_every_balance_in_bytewise_order(client: Client, token: str) -> None:
    balances = accounts(MANY, seed=17)
    mint(client, token, balances)
    expected = sorted(balances.items())
    for size in (MAX_PAGE, 37):
        pages = walk(client, token, size)
        assert [len(holders) for holders, _ in pages[:-1]] == [size] * (len(pages) - 1)
        assert 1 <= len(pages[-1][0]) <= size
        assert [entry for holders, _ in pages for entry in holders] == expected
        assert [cursor for _, cursor in pages[:-1]] == [holders[-1][0] for holders, _ in pages[:-1]]
    assert len(walk(client, token, MAX_PAGE)) == -(-MANY // MAX_PAGE)


def test_a_page_that_ends_exactly_at_the_last_holder_says_end(client: Client, token: str) -> None:
    mint(client, token, {b"a": 1, b"b": 2, b"c": 3, b"d": 4})
    assert page(client, token, 4) == ([(b"a", 1), (b"b", 2), (b"c", 3), (b"d", 4)], None)
    assert page(client, token, 3) == ([(b"a", 1), (b"b", 2), (b"c", 3)], b"c")
    assert page(client, token, 2, b"b") == ([(b"c", 3), (b"d", 4)], None)


def test_after_need_not_be_a_holder_and_is_excluded(client: Client, token: str) -> None:
    mint(client, token, {b"bob": 5, b"bobby": 6, b"carol": 7})
    assert page(client, token, 10, b"bob") == ([(b"bobby", 6), (b"carol", 7)], None)
    assert page(client, token, 10, b"bo") == ([(b"bob", 5), (b"bobby", 6), (b"carol", 7)], None)
    assert page(client, token, 10, b"bobbz") == ([(b"carol", 7)], None)
    assert page(client, token, 10, b"carol") == ([], None)
    assert page(client, token, 10, b"~") == ([], None)


def test_an_empty_token_has_one_empty_last_page(client: Client, token: str) -> None:
    result = client.query(token, "holders", input=b"100")
    assert result.ok and (result.output, result.results) == (b"end\n", [0])


def test_a_balance_that_falls_to_zero_leaves_the_holders(client: Client, token: str) -> None:
    mint(client, token, {b"alice": 10, b"bob": 1})
    assert client.call(token, "transfer", input=b"carol 10", context={"caller": b"alice"}).ok
    assert page(client, token, 10) == ([(b"bob", 1), (b"carol", 10)], None)
    assert client.state_get(token, b"bal:alice")[0] is None
    assert client.query(token, "balance", input=b"alice").results == [0]
    assert client.call(token, "mint", input=b"dave 0", context=OWNER).ok
    assert page(client, token, 10) == ([(b"bob", 1), (b"carol", 10)], None)


def test_a_transfer_between_pages_shows_in_the_pages_still_to_come(client: Client, token: str) -> None:
    balances = {b"acct%03d" % i: 1000 + i for i in range(250)}
    mint(client, token, balances)
    first, cursor = page(client, token, MAX_PAGE)
    assert cursor == b"acct099"
    # From a listed holder to a new account after the cursor, and from a holder still to come to one listed.
    assert client.call(token, "transfer", input=b"acct150x 500", context={"caller": b"acct000"}).ok
    assert client.call(token, "transfer", input=b"acct001 7", context={"caller": b"acct200"}).ok
    assert first == sorted(balances.items())[:MAX_PAGE]
    later: list[tuple[bytes, int]] = []
    while cursor is not None:
        holders, cursor = page(client, token, MAX_PAGE, cursor)
        later.extend(holders)
    balances.update({b"acct000": 500, b"acct150x": 500, b"acct001": 1008, b"acct200": 1193})
    assert later == sorted((account, amount) for account, amount in balances.items() if account > b"acct099")
    assert dict(page(client, token, 2)[0]) == {b"acct000": 500, b"acct001": 1008}


@pytest.mark.parametrize(("text", "message"), [
    (b"0", "bad page size: expected 1 to 100"),
    (b"101", "bad page size: expected 1 to 100"),
    (b"-1", "bad page size: expected 1 to 100"),
    (b"ten", "bad page size: expected 1 to 100"),
    (b"", "expected: SIZE [AFTER]"),
    (b"5 alice bob", "expected: SIZE [AFTER]"),
])
def test_a_page_size_outside_1_to_100_or_a_malformed_input_reverts(client: Client, token: str, text: bytes,
                                                                   message: str) -> None:
    refused = client.query(token, "holders", input=text)
    assert refused.status is Status.REVERTED and refused.error == message


def test_the_largest_and_smallest_pages_are_accepted(client: Client, token: str) -> None:
    mint(client, token, {b"a": 1, b"b": 2})
    assert page(client, token, 1) == ([(b"a", 1)], b"a")
    assert page(client, token, MAX_PAGE) == ([(b"a", 1), (b"b", 2)], None)


def test_holders_writes_nothing_so_a_call_commits_nothing(client: Client, token: str) -> None:
    mint(client, token, {b"a": 1})
    called = client.call(token, "holders", input=b"5")
    assert called.ok and called.writes == {} and called.output == b"a 1\nend\n"


def test_the_token_imports_only_iteration_and_events_of_abi_v2() -> None:
    from tests.pool.test_rust_contracts import V1, imports
    assert imports("token") - V1 == {"state_scan", "state_next", "emit_event"}


def test_a_page_read_while_transfers_commit_equals_a_serial_order(pool: Pool, client: Client,
                                                                  token: str) -> None:
    """Two senders move 1 at a time from the page's last holders to its first while pages are read.

    A page of 100 reads its entries in three scan pages of the broker
    (16, 32 and 64 entries), so the first holders and the last are read at
    different moments. Each sender's transfers are serial, so a page is
    serializable exactly when it shows some prefix of each sender's
    transfers: the first holder gained what the last lost, and so on.
    """
    base = {b"acct%03d" % i: 10_000 for i in range(MAX_PAGE)}
    mint(client, token, base)
    moves = [(b"acct099", b"acct000"), (b"acct098", b"acct001")]
    done = [0, 0]
    stop = threading.Event()

    def send(which: int) -> None:
        source, target = moves[which]
        with pool.client() as sender:
            while not stop.is_set() and done[which] < 400:
                moved = sender.call(token, "transfer", input=target + b" 1", context={"caller": source})
                assert moved.ok, moved.error
                done[which] += 1

    senders = [threading.Thread(target=send, args=(which,)) for which in range(2)]
    for thread in senders:
        thread.start()
    pages = []
    try:
        while any(thread.is_alive() for thread in senders) and len(pages) < 60:
            pages.append(page(client, token, MAX_PAGE)[0])
    finally:
        stop.set()
        for thread in senders:
            thread.join()
    assert pages and all(done)
    states = set()
    for holders in pages:
        seen = dict(holders)
        shown = [base[source] - seen[source] for source, _ in moves]  # each sender's transfers the page saw
        assert [seen[target] - base[target] for _, target in moves] == shown
        assert all(0 <= count <= sent for count, sent in zip(shown, done, strict=True))
        expected = dict(base)
        for (source, target), count in zip(moves, shown, strict=True):
            expected[source] -= count
            expected[target] += count
        assert holders == sorted(expected.items())
        states.add(tuple(shown))
    assert len(states) > 1  # the pages were read while the transfers went on
