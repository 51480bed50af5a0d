"""Block throughput: 1,000 token transfers through the pool (Block-STM) next to serial execution.

For each contention level -- *low* (random accounts among 10,000) and
*high* (10 hot accounts) -- one block of ``--calls`` transfers is run:

- **serial**: the calls one after another in this process, on the engine
  with the real host ABI over an in-memory dict (no broker, no IPC; the
  allocator tuned as in a worker): the baseline a single node would get;
- **pool, N workers**: a broker (in a thread of this process, a
  MemoryStore seeded with every account's balance) and N worker
  processes; ``Client.execute_block`` sends the block and waits for the
  result. Every block is run ``--repeat`` times against the same
  pre-state (``dry_run``), after one warm-up block that compiles the
  module in every worker; the best time counts.

Every pool result is checked against the serial one (same receipts, same
state root). Run from the repository root:
``.venv/bin/python bench/pool/block_bench.py``. Not a test: numbers depend on
the machine (see bench/pool/README.md).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from broker import protocol as p  # noqa: E402
from broker.block import BlockCall, BlockResult, Outcome, compute_root  # noqa: E402
from broker.block.receipts import Location, Value  # noqa: E402
from broker.client import Client  # noqa: E402
from broker.core import BrokerConfig  # noqa: E402
from broker.protocol import Status  # noqa: E402
from broker.server import Broker, BrokerThread  # noqa: E402
from broker.state import MemoryStore  # noqa: E402
from worker import wasm  # noqa: E402
from worker.host import CallContext, CallState, Host  # noqa: E402
from worker.process import WorkerConfig, start_workers, stop_workers, tune_allocator  # noqa: E402

TOKEN = REPO / "examples" / "token.wasm"
LOOPBACK = "tcp://127.0.0.1:*"
BALANCE = 1_000_000
CONTENTION = {"low": 10_000, "high": 10}  # accounts the transfers pick from


def account(index: int) -> bytes:
    return b"acct%05d" % index


def transfers(code_id: str, accounts: int, count: int, seed: int) -> list[BlockCall]:
    """``count`` transfers of 1..9 tokens between random distinct accounts."""
    rng = random.Random(seed)
    calls = []
    for _ in range(count):
        frm, to = rng.sample(range(accounts), 2)
        calls.append(BlockCall(code_id, "transfer", input=b"%s %d" % (account(to), rng.randint(1, 9)),
                               context={"caller": account(frm)}, gas_limit=1_000_000))
    return calls


def genesis(code_id: str, accounts: int) -> dict[Location, bytes]:
    return {(code_id, b"bal:" + account(i)): BALANCE.to_bytes(8, "little") for i in range(accounts)}


# --- serial, in process ------------------------------------------------------------------------


class _Reader:
    def __init__(self, state: dict[Location, Value], code_id: str) -> None:
        self.state, self.code_id = state, code_id

    def get(self, key: bytes) -> bytes | None:
        return self.state.get((self.code_id, key))


def serial(module: wasm.Module, calls: Sequence[BlockCall], before: dict[Location, bytes]) -> BlockResult:
    """Run the calls one after another (the worker's semantics) and build the BlockResult."""
    host = Host()
    imports = host.imports()
    state: dict[Location, Value] = dict(before)
    written: dict[Location, Value] = {}
    outcomes = []
    for call in calls:
        record = CallState(reader=_Reader(state, call.code_id), input=call.input,
                           context=CallContext(**call.context))
        host.begin(record)
        instance = wasm.instantiate(module, imports=imports, gas_limit=call.gas_limit)
        try:
            instance.exports[call.function]()
            outcome = Outcome(Status.OK, output=record.output, gas_used=instance.gas_used,
                              logs=tuple(record.logs),
                              writes={(call.code_id, k): v for k, v in record.writes.items()})
        except Exception as exc:
            code = p.error_code(exc)
            gas = call.gas_limit if code is p.ErrorCode.OUT_OF_GAS else instance.gas_used
            outcome = Outcome(p.status_for(code), gas_used=gas, logs=tuple(record.logs),
                              error=p.error_message(exc))
        finally:
            host.end()
        state.update(outcome.effective_writes())
        written.update(outcome.effective_writes())
        outcomes.append(outcome)
    root = compute_root((c, k, v) for (c, k), v in state.items() if v is not None)
    return BlockResult.build(outcomes, written, root)


# --- the pool ------------------------------------------------------------------------------------


def pool_run(workers: int, token: bytes, blocks: dict[str, list[BlockCall]], before: dict[Location, bytes],
             repeat: int) -> dict[str, tuple[float, BlockResult]]:
    """Best time and result of each block on a pool of ``workers`` processes (dry runs: same pre-state)."""
    store = MemoryStore()
    store.put_code(p.code_id(token), token)
    store.commit_many({}, before)
    config = BrokerConfig(max_timeout=600.0)
    thread = BrokerThread(Broker(store, LOOPBACK, LOOPBACK, config=config)).start()
    processes = start_workers(WorkerConfig(endpoint=thread.backend), workers)
    try:
        with Client(thread.frontend, timeout=600.0) as client:
            while client.stats()["workers"] < workers:
                time.sleep(0.05)
            client.execute_block(next(iter(blocks.values()))[: workers * 4], dry_run=True)  # compile
            results = {}
            for name, calls in blocks.items():
                best, result = float("inf"), None
                for _ in range(repeat):
                    start = time.perf_counter()
                    result = client.execute_block(calls, dry_run=True, timeout=600.0)
                    best = min(best, time.perf_counter() - start)
                assert result is not None
                results[name] = (best, result)
            stats = client.stats()["counters"]
            print(f"  ({workers} workers: {stats.get('block_tasks', 0)} tasks for "
                  f"{stats.get('block_calls', 0)} calls, {stats.get('block_aborts', 0)} aborts, "
                  f"{stats.get('block_suspensions', 0)} suspensions)", flush=True)
            return results
    finally:
        stop_workers(processes)
        thread.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="transfers per block (default 1000)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4],
                        help="pool sizes (default 1 2 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement, best counts (default 3)")
    args = parser.parse_args(argv)
    tune_allocator()  # as in a worker process: the serial baseline gets the same allocator
    token = TOKEN.read_bytes()
    code_id = p.code_id(token)
    module = wasm.decode(token)
    before = genesis(code_id, max(CONTENTION.values()))
    blocks = {name: transfers(code_id, accounts, args.calls, seed=7) for name, accounts in CONTENTION.items()}
    rows: dict[str, dict[str, float]] = {name: {} for name in blocks}
    expected: dict[str, BlockResult] = {}
    for name, calls in blocks.items():
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            expected[name] = serial(module, calls, before)
            best = min(best, time.perf_counter() - start)
        rows[name]["serial"] = args.calls / best
    for workers in args.workers:
        for name, (seconds, result) in pool_run(workers, token, blocks, before, args.repeat).items():
            if result.receipts != expected[name].receipts or result.state_root != expected[name].state_root:
                raise SystemExit(f"the pool's {name}-contention block differs from serial execution")
            rows[name][f"{workers} workers"] = args.calls / seconds
    columns = ["serial", *(f"{w} workers" for w in args.workers)]
    print(f"\nblock of {args.calls} transfers, calls/s (best of {args.repeat}); results equal to serial: yes")
    print(f"| contention | {' | '.join(columns)} |")
    print(f"|---|{'---|' * len(columns)}")
    for name, row in rows.items():
        label = f"{name} ({CONTENTION[name]:,} accounts)"
        print(f"| {label} | {' | '.join(f'{row[c]:,.0f}' for c in columns)} |")


if __name__ == "__main__":
    main()
