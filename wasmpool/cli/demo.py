"""The ``make run`` demonstration: two tokens of one code and a swap between them.

Run by ``wasmpool broker --demo DIR`` once the broker serves, ``DIR``
holding the Rust examples ``token.wasm`` and ``swap.wasm``
(examples/rust/). It talks to the pool through the ordinary
:class:`~wasmpool.client.AsyncClient`, exactly as any other client would:
deploys both codes, makes two token contracts (gold, silver) of the one
token code and a swap contract between them, mints, adds liquidity,
swaps (the swap calls both tokens), shows a swap that reverts and moves
nothing, races swaps to show re-execution, prints balances, then prints
how to submit more calls from another terminal.

Contracts are made by alice with the salts ``gold-1``, ``silver-1`` and
``swap-1``; when the state already has them (the demo ran before on the
same state file), the next number is used, so each run starts fresh
contracts and a fresh state file always gets the same addresses.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wasmpool.client import AsyncClient, Result, ResultEvent
from wasmpool.wire import errors

Say = Callable[[str], None]
ACCOUNTS = ("alice", "bob", "carol")
TOKENS = ("gold", "silver")
MINT, POOLED, GIFT = 1000, 500, 100
RACE = 10  # concurrent swaps by alice, half each way, to show MVCC re-execution
WORKER_WAIT = 60.0


@dataclass
class Book:
    """The demo's contracts by name, and their names by address (to print events and inputs readably)."""

    addresses: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, address: str) -> None:
        self.addresses[name] = address

    def name(self, account: bytes | str) -> str:
        """An account as the demo prints it: a contract's name for its address, else the text."""
        text = account.decode(errors="replace") if isinstance(account, bytes) else account
        return next((n for n, a in self.addresses.items() if a == text.lower()), text)

    def show(self, text: str) -> str:
        """A call's input with each contract address replaced by the contract's name."""
        return " ".join(self.name(word) for word in text.split(" "))


async def run_demo(frontend: str, examples: Path, workers: int, say: Say = print) -> Book:
    """Deploy the token and swap in ``examples``, run the story, print balances; returns the contracts."""
    async with AsyncClient(frontend) as client:
        await _wait_for_workers(client, workers)
        book = await _setup(client, examples, say)
        await _story(client, book, say)
        await _race(client, book, say)
        await _balances(client, book, say)
        stats = await client.stats()
        say(f"\npool: {stats['workers']} workers, {stats['jobs_done']} jobs done, "
            f"cache hit rate {stats['cache_hit_rate']:.0%}")
    say(_instructions(book))
    return book


async def _wait_for_workers(client: AsyncClient, workers: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WORKER_WAIT
    while (await client.stats())["workers"] < workers and loop.time() < deadline:
        await asyncio.sleep(0.2)


async def _setup(client: AsyncClient, examples: Path, say: Say) -> Book:
    """Deploy both codes; make gold and silver of the one token code, and the swap between them."""
    token_code = await client.deploy((examples / "token.wasm").read_bytes())
    swap_code = await client.deploy((examples / "swap.wasm").read_bytes())
    say(f"\ndeployed {examples / 'token.wasm'} as code id {token_code[:16]}...")
    say(f"deployed {examples / 'swap.wasm'} as code id {swap_code[:16]}...\n")
    book = Book()
    for name in TOKENS:
        book.add(name, await _instantiate(client, token_code, name, b""))
        say(f"  {name:>6} = a token contract at {book.addresses[name]}")
    pair = f"{book.addresses['gold']} {book.addresses['silver']}"
    book.add("swap", await _instantiate(client, swap_code, "swap", pair.encode()))
    say(f"  {'swap':>6} = a swap contract at {book.addresses['swap']} (a = gold, b = silver)\n")
    return book


async def _instantiate(client: AsyncClient, code_id: str, name: str, init: bytes) -> str:
    """A new contract by alice, salt ``NAME-N`` with the first N not taken in this state."""
    for n in itertools.count(1):
        try:
            made = await client.instantiate(code_id, init, salt=f"{name}-{n}".encode(), caller=b"alice",
                                            admin=b"alice")
        except errors.ContractExists:
            continue
        if not made.ok:
            raise RuntimeError(f"instantiating {name} failed: {made.result.error}")
        return made.address
    raise AssertionError("unreachable")


STORY = (  # caller, contract, function, input text (contract names stand for their addresses)
    ("alice", "gold", "mint", f"alice {MINT}"),
    ("alice", "silver", "mint", f"alice {MINT}"),
    ("alice", "gold", "transfer", f"bob {GIFT}"),
    ("alice", "gold", "approve", "swap 1000"),
    ("alice", "silver", "approve", "swap 1000"),
    ("alice", "swap", "add_liquidity", f"{POOLED} {POOLED}"),
    ("bob", "gold", "approve", "swap 100"),
    ("bob", "swap", "swap", "a 100 80"),  # bob sells 100 gold for at least 80 silver
    ("carol", "swap", "swap", "a 50 1"),  # carol approved nothing: gold refuses, nothing moves
)


async def _story(client: AsyncClient, book: Book, say: Say) -> None:
    for caller, contract, function, text in STORY:
        result = await _call(client, book, caller, contract, function, text)
        call = f"{contract}.{function} {book.show(text)!r}"
        say(f"  {caller:>5}: {call:<32} -> {_outcome(result)}")
        for event in result.events:
            say(f"         {_event(book, contract, event)}")


async def _call(client: AsyncClient, book: Book, caller: str, contract: str, function: str,
                text: str) -> Result:
    words = [book.addresses.get(word, word) for word in text.split(" ")]
    return await client.call(book.addresses[contract], function, input=" ".join(words).encode(),
                             context={"caller": caller.encode()})


def _event(book: Book, called: str, event: ResultEvent) -> str:
    """``[emitter] type key=value ...``: the emitter is the called contract unless the event names one."""
    emitter = book.name(event[2].hex()) if len(event) > 2 else called
    attributes = " ".join(f"{k.decode(errors='replace')}={book.name(v)}" for k, v in event[1])
    return f"[{emitter}] {event[0].decode(errors='replace')} {attributes}"


async def _race(client: AsyncClient, book: Book, say: Say) -> None:
    sides = ["a 10 1" if i % 2 else "b 10 1" for i in range(RACE)]
    results = await asyncio.gather(*(_call(client, book, "alice", "swap", "swap", s) for s in sides))
    retried = sum(r.attempts - 1 for r in results)
    ok = sum(r.ok for r in results)
    say(f"  {RACE} concurrent swaps by alice, half each way: {ok} ok, "
        f"{retried} re-executed after a stale read")


async def _balances(client: AsyncClient, book: Book, say: Say) -> None:
    say(f"\n{'balances':<10}" + "".join(f"{name:>8}" for name in TOKENS))
    for account in (*ACCOUNTS, "swap"):
        held = [await _balance(client, book.addresses[token], book.addresses.get(account, account))
                for token in TOKENS]
        say(f"  {account:<8}" + "".join(f"{amount:>8}" for amount in held))
    reserves = await client.query(book.addresses["swap"], "reserves")
    say(f"swap reserves: {reserves.output.decode() if reserves.ok else reserves.error} (gold silver)")


async def _balance(client: AsyncClient, token: str, account: str) -> str:
    result = await client.query(token, "balance", input=account.encode())
    return str(result.results[0]) if result.ok else f"({result.error})"


def _outcome(result: Result) -> str:
    text = f"{result.status} (gas {result.gas_used})"
    if result.ok and result.results:
        text += f", returned {' '.join(str(r) for r in result.results)}"
    return f"{text}: {result.error}" if result.error else text


def _instructions(book: Book) -> str:
    program = _program()
    silver, swap = book.addresses["silver"], book.addresses["swap"]
    return (
        "\nThe pool keeps serving. From another terminal (bob sells 20 of his silver for gold):\n"
        f"  {program} call {silver} approve --text '{swap} 20' --caller bob\n"
        f"  {program} call {swap} swap --text 'b 20 1' --caller bob\n"
        f"  {program} query {book.addresses['gold']} balance --text bob\n"
        f"  {program} contract info {swap}\n"
        f"  {program} stats\n"
        "Ctrl-C stops the broker and its workers."
    )


def _program() -> str:
    """How the user ran us (e.g. .venv/bin/wasmpool), for copy-pasteable commands."""
    path = Path(sys.argv[0])
    if path.name == "wasmpool" and path.exists():
        return os.path.relpath(path)
    return "wasmpool"
