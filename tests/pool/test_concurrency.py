"""Many clients at once: every call answered exactly once; serializable state under contention."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.pool.conftest import Pool
from wasmpool.client import Client, Result
from wasmpool.wire.protocol import Status

CLIENTS = 10
CALLS_EACH = 100
ACCOUNTS = ("a", "b", "c")
MINT = 1000
TRANSFERS_EACH = 12


def in_threads(pool: Pool, work: Callable[[Client, int], Any], count: int = CLIENTS) -> list[Any]:
    """Run ``work(client, index)`` in ``count`` threads, each with its own client."""
    start = threading.Barrier(count)

    def one(index: int) -> Any:
        with pool.client() as client:
            start.wait()
            return work(client, index)

    with ThreadPoolExecutor(count) as executor:
        return list(executor.map(one, range(count)))


def test_a_thousand_calls_from_ten_clients_all_come_back_exactly_once(pool: Pool, probe: str) -> None:
    before = _jobs_done(pool)

    def calls(client: Client, index: int) -> list[tuple[int, list[int]]]:
        return [(index * CALLS_EACH + i, client.call(probe, "add", [index * CALLS_EACH + i, 1]).results)
                for i in range(CALLS_EACH)]

    answers = [answer for batch in in_threads(pool, calls) for answer in batch]
    assert len(answers) == CLIENTS * CALLS_EACH
    assert all(results == [n + 1] for n, results in answers)
    assert sorted(n for n, _ in answers) == list(range(CLIENTS * CALLS_EACH))
    assert _jobs_done(pool) - before == CLIENTS * CALLS_EACH


def _jobs_done(pool: Pool) -> int:
    with pool.client() as client:
        return int(client.stats()["jobs_done"])


def test_concurrent_transfers_between_hot_accounts_never_create_or_lose_tokens(
        pool: Pool, client: Client, token: str) -> None:
    for account in ACCOUNTS:
        assert client.call(token, "mint", input=f"{account} {MINT}".encode(), context={"caller": b"a"}).ok

    def transfers(mine: Client, index: int) -> list[tuple[str, str, int, Result]]:
        rng = random.Random(index)
        out = []
        for _ in range(TRANSFERS_EACH):
            sender, receiver = rng.sample(ACCOUNTS, 2)
            amount = rng.randint(1, 700)
            text = f"{receiver} {amount}".encode()
            result = mine.call(token, "transfer", input=text, context={"caller": sender.encode()})
            out.append((sender, receiver, amount, result))
        return out

    done = [t for batch in in_threads(pool, transfers) for t in batch]
    statuses = Counter(result.status for *_, result in done)
    assert set(statuses) <= {Status.OK, Status.REVERTED} and statuses[Status.OK] > 0
    balances = {a: int(client.query(token, "balance_of", input=a.encode()).results[0]) for a in ACCOUNTS}
    assert sum(balances.values()) == MINT * len(ACCOUNTS)
    assert client.query(token, "total_supply").results == [MINT * len(ACCOUNTS)]
    assert balances == _expected(done)


def _expected(done: list[tuple[str, str, int, Result]]) -> dict[str, int]:
    """Balances implied by the transfers that committed: every ok one moved its amount, no other did."""
    net = dict.fromkeys(ACCOUNTS, MINT)
    for sender, receiver, amount, result in done:
        if result.ok:
            net[sender] -= amount
            net[receiver] += amount
    return net
