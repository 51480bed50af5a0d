"""The ``make run`` demonstration: deploy the token contract, move tokens, show balances.

Run by ``wasmpool broker --demo FILE`` once the broker serves: it talks to
the pool through the ordinary :class:`~wasmpool.client.AsyncClient`, exactly
as any other client would, then prints how to submit more calls from
another terminal.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from wasmpool.client import AsyncClient, Result

ACCOUNTS = ("alice", "bob", "carol")
STEPS = (  # caller, function, input text
    ("alice", "mint", "alice 1000"),
    ("alice", "transfer", "bob 250"),
    ("bob", "transfer", "carol 100"),
    ("carol", "transfer", "alice 500"),  # carol has 100: reverts
)
RACE = 20  # concurrent transfers between alice and bob, to show MVCC re-execution
WORKER_WAIT = 60.0


async def run_demo(frontend: str, module: Path, workers: int, say: Callable[[str], None] = print) -> str:
    """Deploy ``module`` (the token), run the steps, print balances; returns the code id."""
    async with AsyncClient(frontend) as client:
        await _wait_for_workers(client, workers)
        code_id = await client.deploy(module.read_bytes())
        say(f"\ndeployed {module} as code id {code_id}\n")
        for caller, function, text in STEPS:
            result = await _call(client, code_id, caller, function, text)
            call = f"{function} {text!r}"
            say(f"  {caller:>5}: {call:<24} -> {_outcome(result)}")
        await _race(client, code_id, say)
        await _balances(client, code_id, say)
        stats = await client.stats()
        say(f"\npool: {stats['workers']} workers, {stats['jobs_done']} jobs done, "
            f"cache hit rate {stats['cache_hit_rate']:.0%}")
    say(_instructions(code_id))
    return code_id


async def _wait_for_workers(client: AsyncClient, workers: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WORKER_WAIT
    while (await client.stats())["workers"] < workers and loop.time() < deadline:
        await asyncio.sleep(0.2)


async def _call(client: AsyncClient, code_id: str, caller: str, function: str, text: str) -> Result:
    return await client.call(code_id, function, input=text.encode(), context={"caller": caller.encode()})


async def _race(client: AsyncClient, code_id: str, say: Callable[[str], None]) -> None:
    pairs = [("alice", "bob 1") if i % 2 else ("bob", "alice 1") for i in range(RACE)]
    results = await asyncio.gather(*(_call(client, code_id, c, "transfer", t) for c, t in pairs))
    retried = sum(r.attempts - 1 for r in results)
    ok = sum(r.ok for r in results)
    say(f"  {RACE} concurrent transfers between alice and bob: {ok} ok, "
        f"{retried} re-executed after a stale read")


async def _balances(client: AsyncClient, code_id: str, say: Callable[[str], None]) -> None:
    balances = []
    for account in ACCOUNTS:
        result = await client.query(code_id, "balance_of", input=account.encode())
        balances.append(f"{account} {result.results[0] if result.ok else result.error}")
    supply = await client.query(code_id, "total_supply")
    say(f"\nbalances: {', '.join(balances)} (total supply {supply.results[0] if supply.ok else '?'})")


def _outcome(result: Result) -> str:
    text = f"{result.status} (gas {result.gas_used})"
    return f"{text}: {result.error}" if result.error else text


def _instructions(code_id: str) -> str:
    program = _program()
    return (
        "\nThe pool keeps serving. From another terminal:\n"
        f"  {program} call {code_id} transfer --text 'bob 5' --caller alice\n"
        f"  {program} query {code_id} balance_of --text bob\n"
        f"  {program} state get {code_id} bal:bob\n"
        f"  {program} stats\n"
        "Ctrl-C stops the broker and its workers."
    )


def _program() -> str:
    """How the user ran us (e.g. .venv/bin/wasmpool), for copy-pasteable commands."""
    path = Path(sys.argv[0])
    if path.name == "wasmpool" and path.exists():
        return os.path.relpath(path)
    return "wasmpool"
