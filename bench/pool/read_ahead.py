"""What reads answered ahead save a call, end to end: the same calls with and without them, in one run.

Two pools side by side (``single.py``: an embedded broker over SQLite and one
worker process each), one with reads ahead (the default) and one started
with ``BrokerConfig(read_ahead=False)``; each gets the token contract
(``examples/token.wasm``) as a contract and the same calls, in rounds
interleaved between the two pools so that drift touches both alike:

- **total_supply** (a query reading one key, the same in every call:
  learned after two calls);
- **transfer, learned** (alice to bob again and again: both balances
  learned);
- **transfer, declared** (``access=[bal:alice, bal:bob]``);
- **transfer, rotating** (to a new account each time, nothing declared:
  only the sender's balance is learned).

Printed: median ms per call in each pool, their ratio, and the state
CALLBACKs per call (the broker's counter). Results and gas must agree
between the pools call for call, or the script stops.

Run from the repository root: ``.venv/bin/python bench/pool/read_ahead.py
[--rounds N]``. Not a test: the times depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from single import single_worker_pool  # bench/pool/single.py, beside this script

from wasmpool import wasm
from wasmpool.broker.config import BrokerConfig
from wasmpool.client import Client, Result

TOKEN = Path(__file__).resolve().parents[2] / "examples" / "token.wasm"
ALICE = {"caller": b"alice"}

Call = Callable[[Client, str, int], Result]

CALLS: dict[str, Call] = {
    "total_supply": lambda c, a, i: c.query(a, "total_supply"),
    "transfer, learned": lambda c, a, i: c.call(a, "transfer", input=b"bob 1", context=ALICE),
    "transfer, declared": lambda c, a, i: c.call(a, "transfer", input=b"carol 1", context=ALICE,
                                                 access=[b"bal:alice", b"bal:carol"]),
    "transfer, rotating": lambda c, a, i: c.call(a, "transfer", input=b"acct%d 1" % i, context=ALICE),
}


def setup(client: Client) -> str:
    """A token contract with alice holding a million."""
    made = client.instantiate(client.deploy(TOKEN.read_bytes()), salt=b"%f" % time.time(), caller=b"alice")
    assert made.ok, made.result.error
    assert client.call(made.address, "mint", input=b"alice 1000000", context=ALICE).ok
    return made.address


def callbacks(client: Client) -> int:
    return int(client.stats()["counters"].get("callbacks", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    wasm.prepare_process()
    variants = {"ahead": BrokerConfig(), "asked": BrokerConfig(read_ahead=False)}
    with ExitStack() as stack:
        clients = {name: stack.enter_context(single_worker_pool(config)) for name, config in variants.items()}
        addresses = {name: setup(client) for name, client in clients.items()}
        times: dict[tuple[str, str], list[float]] = {(v, c): [] for v in variants for c in CALLS}
        asked: dict[tuple[str, str], int] = {}
        for label, call in CALLS.items():
            for name in variants:  # two calls first: what the broker learns from
                for i in range(2):
                    call(clients[name], addresses[name], -1 - i)
            before = {name: callbacks(client) for name, client in clients.items()}
            for i in range(args.rounds):
                outcomes = []
                for name, client in clients.items():
                    started = time.perf_counter()
                    result = call(client, addresses[name], i)
                    times[name, label].append(time.perf_counter() - started)
                    outcomes.append((result.status, result.results, result.output, result.gas_used))
                if outcomes[0] != outcomes[1]:
                    raise RuntimeError(f"{label}: the pools disagree: {outcomes}")
            for name, client in clients.items():
                asked[name, label] = callbacks(client) - before[name]
    print(f"median ms per call over {args.rounds} rounds, interleaved; state CALLBACKs per call")
    print(f"{'call':<22}{'ahead':>9}{'asked':>9}{'ratio':>8}{'callbacks':>12}")
    for label in CALLS:
        ahead, plain = (statistics.median(times[v, label]) * 1000 for v in variants)
        counts = "/".join(f"{asked[v, label] / args.rounds:.1f}" for v in variants)
        print(f"{label:<22}{ahead:>9.3f}{plain:>9.3f}{ahead / plain:>8.2f}{counts:>12}")


if __name__ == "__main__":
    main()
