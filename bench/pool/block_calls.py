"""Blocks of calls between contracts: swaps through proxies, through the pool next to serial execution.

Each call of a block is a proxy (``tests/pool/fixtures/proxy.wat``) that
makes two calls: a ``move`` of one ledger instance (``ledger.wat``, three
instances of one code) from account a to b, then a ``move`` of another
ledger from b back to a -- a swap. Two blocks of ``--calls`` swaps:
*spread* (accounts among 250) and *hot* (3 accounts: every call reads what
the one before wrote).

- **serial**: the calls one after another in this process with the
  worker's own ``execute`` over a dict of the pool's committed state (no
  broker, no IPC): the baseline one node gets;
- **pool, N workers**: an embedded broker over SQLite and N worker
  processes; each block is run ``--repeat`` times as a dry run (same
  pre-state) after a warm-up, the best time counts, and each result is
  checked against the serial one (receipts, writes, state root).

Printed per block and pool: calls per second, the speed-up over serial,
and per block the CALLBACKs, aborted executions and whether it went serial.
Run from the repository root: ``.venv/bin/python bench/pool/block_calls.py``.
Not a test: the numbers depend on the machine (see bench/pool/README.md).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from wasmpool import wasm  # noqa: E402
from wasmpool.broker.blocks import BlockCall, BlockResult, Outcome, compute_root  # noqa: E402
from wasmpool.broker.config import BrokerConfig  # noqa: E402
from wasmpool.client import Client  # noqa: E402
from wasmpool.embed import Broker, BrokerThread  # noqa: E402
from wasmpool.wire import protocol as p  # noqa: E402
from wasmpool.wire.receipts import Location, Value, events_of  # noqa: E402
from wasmpool.worker.config import WorkerConfig  # noqa: E402
from wasmpool.worker.execute import Runtime, execute  # noqa: E402
from wasmpool.worker.host import Host  # noqa: E402
from wasmpool.worker.modules import Loaded, load  # noqa: E402
from wasmpool.worker.readers import MappingState  # noqa: E402
from wasmpool.worker.supervisor import start_workers, stop_workers  # noqa: E402

FIXTURES = REPO / "tests" / "pool" / "fixtures"
LOOPBACK = "tcp://127.0.0.1:*"
GAS = 10_000_000
State = dict[Location, Value]


def record(address: str, function: str, data: bytes) -> bytes:
    """One call of a proxy's input, all gas left to it, no return data copied (see proxy.wat)."""
    name = function.encode()
    head = bytes.fromhex(address) + struct.pack("<I", len(name)) + name
    return head + struct.pack("<QII", 0, 0, len(data)) + data


def move(source: int, to: int, amount: int) -> bytes:
    return bytes([source, to]) + struct.pack("<q", amount)


def swaps(proxies: list[str], ledgers: list[str], calls: int, accounts: int, seed: int) -> list[BlockCall]:
    rng = random.Random(seed)
    block = []
    for i in range(calls):
        a, b = rng.sample(range(accounts), 2)
        first, second = rng.sample(ledgers, 2)
        data = record(first, "move", move(a, b, 1)) + record(second, "move", move(b, a, 1))
        block.append(BlockCall(proxies[i % len(proxies)], "run", input=data, gas_limit=GAS))
    return block


def serial(modules: dict[str, Loaded], calls: list[BlockCall], before: State) -> BlockResult:
    """The block's result from the calls run one after another in this process."""
    state: State = dict(before)
    written: State = {}
    runtime = Runtime.of(Host())
    outcomes = []
    for call in calls:
        outcome = serial_call(modules, runtime, call, state)
        state.update(outcome.effective_writes())
        written.update(outcome.effective_writes())
        outcomes.append(outcome)
    root = compute_root((c, k, v) for (c, k), v in state.items() if v is not None)
    return BlockResult.build(outcomes, written, root)


def serial_time(modules: dict[str, Loaded], calls: list[BlockCall], before: State,
                repeat: int) -> tuple[BlockResult, float]:
    """The serial result and its best time of ``repeat`` runs (after one that compiles what they run)."""
    result = serial(modules, calls, before)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        serial(modules, calls, before)
        best = min(best, time.perf_counter() - start)
    return result, best


def serial_call(modules: dict[str, Loaded], runtime: Runtime, call: BlockCall, state: State) -> Outcome:
    own = call.code_id
    registered = state[p.REGISTRY_SPACE, bytes.fromhex(own)]
    assert registered is not None
    job = {"code_id": p.unpack(registered)["code_id"], "function": call.function, "args": [],
           "input": call.input, "context": {}, "gas_limit": call.gas_limit, "timeout": 60.0,
           "readonly": False, "address": bytes.fromhex(own)}
    result = execute(job, MappingState(state, own), lambda code_id, *_: modules[code_id], runtime)
    writes: State = {(own, key): value for key, value in result.writes.items()}
    writes.update(((space, key), value) for space, key, value in result.nested_writes)
    versions = {**(result.versions or {}), "floats": BrokerConfig().floats}
    return Outcome(result.status, result.output, result.gas_used, tuple(result.logs), writes,
                   tuple(result.results), result.error, versions, events_of(result.events))


def committed(db: Path) -> State:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT code_id, key, value FROM state WHERE value IS NOT NULL").fetchall()
    connection.close()
    return {(space, bytes(key)): bytes(value) for space, key, value in rows}


def run(workers: int, args: argparse.Namespace) -> None:
    """Both blocks on a fresh pool of ``workers`` processes."""
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "state.db"
        thread = BrokerThread(Broker(f"sqlite:{db}", LOOPBACK, LOOPBACK)).start()
        processes = start_workers(WorkerConfig(endpoint=thread.backend), workers)
        try:
            with Client(thread.frontend, timeout=300.0) as client:
                while client.stats()["workers"] < workers:
                    time.sleep(0.05)
                proxies, ledgers, modules = contracts(client)
                before = committed(db)
                for name, accounts in (("spread", 250), ("hot", 3)):
                    calls = swaps(proxies, ledgers, args.calls, accounts, seed=7)
                    expected, alone = serial_time(modules, calls, before, args.repeat)
                    best, per = measure(client, calls, expected, workers, args.repeat)
                    print(f"{name:6} {workers} workers: serial {args.calls / alone:5.0f} calls/s, pool "
                          f"{args.calls / best:5.0f} calls/s ({alone / best:.2f}x); per block: "
                          f"{per['callbacks']:.0f} CALLBACKs, {per['block_aborts']:.0f} aborts, "
                          f"serial mode {per['blocks_serial']:.0f}", flush=True)
        finally:
            stop_workers(processes)
            thread.stop()


def contracts(client: Client) -> tuple[list[str], list[str], dict[str, Loaded]]:
    """Four proxies and three ledgers (instances of one code), and the modules by code id."""
    code = {name: (FIXTURES / f"{name}.wasm").read_bytes() for name in ("proxy", "ledger")}
    ids = {name: client.deploy(module) for name, module in code.items()}
    made = {name: [client.instantiate(ids[name], salt=b"%d" % i, caller=b"bench").address
                   for i in range(count)] for name, count in (("proxy", 4), ("ledger", 3))}
    return made["proxy"], made["ledger"], {ids[name]: load(module) for name, module in code.items()}


def measure(client: Client, calls: list[BlockCall], expected: BlockResult, workers: int,
            repeat: int) -> tuple[float, dict[str, float]]:
    """The best time of ``repeat`` dry runs of the block (each checked), and per run the counters' growth."""
    client.execute_block(calls[:workers * 8], dry_run=True)  # modules compiled in every worker
    before = client.stats()["counters"]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = client.execute_block(calls, dry_run=True)
        best = min(best, time.perf_counter() - start)
        if (result.receipts, result.writes, result.state_root) != (
                expected.receipts, expected.writes, expected.state_root):
            raise SystemExit(f"{workers} workers: the block differs from serial execution")
    after = client.stats()["counters"]
    names = ("callbacks", "block_aborts", "blocks_serial")
    return best, {key: (after.get(key, 0) - before.get(key, 0)) / repeat for key in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="swaps per block (default 400)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4],
                        help="pool sizes (default 1 2 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per block, the best counts (default 3)")
    args = parser.parse_args(argv)
    wasm.prepare_process()
    for workers in args.workers:
        run(workers, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
