"""Block throughput: 1,000 token transfers through the pool (Block-STM) next to serial execution.

For each contention level -- *low* (random accounts among 10,000) and
*high* (10 hot accounts) -- one block of ``--calls`` transfers is run, in
two modes: *optimistic* (the calls as they are: every first read of a
chunk is a CALLBACK, conflicts are found by aborts) and *declared access*
(each transfer's ``access`` lists the sender's and the recipient's balance
keys, ``b"bal:" + account`` as ``examples/token.c`` forms them: the broker
sends their values with the chunk, and predicts contention). A third
block, *heavy*, has the low-contention pattern with calls that cost more
CPU: ``move`` of ``work.wasm`` with ``--rounds`` rounds of mixing (3,000:
about 8 transfers' worth), access declared -- what changes when a call
costs much more than the pool's own work per call.

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
state root). With ``--cpu`` (Linux: read from /proc) each pool line also
says how much CPU one block took in the client, the broker thread and the
worker processes. Run from the repository root:
``.venv/bin/python bench/pool/block_bench.py``. Not a test: numbers depend on
the machine (see bench/pool/README.md).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from wasmpool import wasm  # noqa: E402
from wasmpool.broker.blocks import BlockCall, BlockResult, Outcome, StateTree  # noqa: E402
from wasmpool.broker.config import BrokerConfig  # noqa: E402
from wasmpool.broker.state import MemoryStore  # noqa: E402
from wasmpool.client import Client  # noqa: E402
from wasmpool.embed import Broker, BrokerThread  # noqa: E402
from wasmpool.wire import protocol as p  # noqa: E402
from wasmpool.wire.prices import load_gas  # noqa: E402
from wasmpool.wire.protocol import Status  # noqa: E402
from wasmpool.wire.receipts import Location, Value  # noqa: E402
from wasmpool.worker import codes  # noqa: E402
from wasmpool.worker.config import WorkerConfig  # noqa: E402
from wasmpool.worker.host import CallContext, CallState, Host  # noqa: E402
from wasmpool.worker.modules import Loaded, load  # noqa: E402
from wasmpool.worker.process import tune_allocator  # noqa: E402
from wasmpool.worker.supervisor import start_workers, stop_workers  # noqa: E402
from wasmpool.worker.versions import WORKER_VERSIONS  # noqa: E402

TOKEN = REPO / "examples" / "token.wasm"
WORK = HERE / "work.wasm"
LOOPBACK = "tcp://127.0.0.1:*"
BALANCE = 1_000_000
CONTENTION = {"low": 10_000, "high": 10}  # accounts the transfers pick from
MODES = {"optimistic": False, "declared access": True}  # mode -> transfers carry access sets


def account(index: int) -> bytes:
    return b"acct%05d" % index


def balance_key(name: bytes) -> bytes:
    """The token contract's balance key of an account (``balance_key`` in examples/token.c)."""
    return b"bal:" + name


def transfers(code_id: str, accounts: int, count: int, seed: int, declare: bool) -> list[BlockCall]:
    """``count`` transfers of 1..9 tokens between random distinct accounts (with their access sets)."""
    rng = random.Random(seed)
    calls = []
    for _ in range(count):
        frm, to = rng.sample(range(accounts), 2)
        access = (balance_key(account(frm)), balance_key(account(to))) if declare else ()
        calls.append(BlockCall(code_id, "transfer", input=b"%s %d" % (account(to), rng.randint(1, 9)),
                               context={"caller": account(frm)}, gas_limit=1_000_000, access=access))
    return calls


def moves(code_id: str, accounts: int, count: int, seed: int, rounds: int) -> list[BlockCall]:
    """``count`` calls of work.wasm's ``move`` between random distinct accounts, access declared."""
    rng = random.Random(seed)
    calls = []
    for _ in range(count):
        frm, to = rng.sample(range(accounts), 2)
        keys = tuple(b"w" + n.to_bytes(4, "little") for n in (frm, to))
        calls.append(BlockCall(code_id, "move", args=(frm, to, rounds), gas_limit=100 * rounds + 100_000,
                               access=keys))
    return calls


def genesis(code_id: str, accounts: int) -> dict[Location, bytes]:
    return {(code_id, balance_key(account(i))): BALANCE.to_bytes(8, "little") for i in range(accounts)}


# --- serial, in process ------------------------------------------------------------------------


class _Reader:
    def __init__(self, state: dict[Location, Value], code_id: str) -> None:
        self.state, self.code_id = state, code_id

    def get(self, key: bytes) -> bytes | None:
        return self.state.get((self.code_id, key))


def serial(modules: dict[str, Loaded], calls: Sequence[BlockCall], before: dict[Location, bytes],
           tree: StateTree) -> BlockResult:
    """Run the calls one after another (the worker's semantics) and build the BlockResult.

    As a worker does: each call pays its module's load price first, and its
    outcome carries the pool's versions (the worker's and the float policy).

    ``tree`` is the state tree of ``before``, kept by the node as the pool's
    broker keeps its own: the root after the block is an incremental update.
    """
    host = Host()
    imports = host.imports()
    versions = {**WORKER_VERSIONS.as_dict(), "floats": BrokerConfig().floats}
    state: dict[Location, Value] = dict(before)
    written: dict[Location, Value] = {}
    outcomes = []
    for call in calls:
        record = CallState(reader=_Reader(state, call.code_id), input=call.input,
                           context=CallContext(**call.context))
        host.begin(record)
        module = modules[call.code_id]
        fee = load_gas(module.size)  # the bench's calls have limits far above it
        instance = wasm.instantiate(module.runnable(), imports=imports, gas_limit=call.gas_limit - fee,
                                    canonical_nans=True)
        try:
            function: Any = instance.exports[call.function]
            function(*call.args)
            outcome = Outcome(Status.OK, output=record.output, gas_used=fee + instance.gas_used,
                              logs=tuple(record.logs), versions=versions,
                              writes={(call.code_id, k): v for k, v in record.writes.items()})
        except Exception as exc:
            code = codes.error_code(exc)
            gas = call.gas_limit if code is p.ErrorCode.OUT_OF_GAS else fee + instance.gas_used
            outcome = Outcome(p.status_for(code), gas_used=gas, logs=tuple(record.logs),
                              error=codes.error_message(exc), versions=versions)
        finally:
            host.end()
        state.update(outcome.effective_writes())
        written.update(outcome.effective_writes())
        outcomes.append(outcome)
    return BlockResult.build(outcomes, written, tree.updated(written).root)


# --- the pool ------------------------------------------------------------------------------------


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """CPU time (user + system) of a process, or of one of its threads, from /proc."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU of the client thread, the broker thread and the worker processes (None where /proc is missing)."""

    def __init__(self, workers: Sequence[Any]) -> None:
        broker = next(t for t in threading.enumerate() if t.name == "wasmpool-broker")
        self.parts = {"client": (os.getpid(), threading.get_native_id()),
                      "broker": (os.getpid(), broker.native_id)}
        self.workers = [process.pid for process in workers]

    def sample(self) -> dict[str, float] | None:
        try:
            taken = {name: cpu_seconds(pid, tid) for name, (pid, tid) in self.parts.items()}
            taken["workers"] = sum(cpu_seconds(pid) for pid in self.workers)
        except OSError:
            return None
        return taken


def pool_run(workers: int, codes: Sequence[bytes], blocks: dict[str, list[BlockCall]],
             before: dict[Location, bytes], repeat: int,
             cpu: bool = False) -> dict[str, tuple[float, BlockResult]]:
    """Best time and result of each block on a pool of ``workers`` processes (dry runs: same pre-state)."""
    store = MemoryStore()
    for code in codes:
        store.put_code(p.code_id(code), code)
    store.commit_many({}, before)
    config = BrokerConfig(max_timeout=600.0)
    thread = BrokerThread(Broker(store, LOOPBACK, LOOPBACK, config=config)).start()
    processes = start_workers(WorkerConfig(endpoint=thread.backend), workers)
    try:
        with Client(thread.frontend, timeout=600.0) as client:
            while client.stats()["workers"] < workers:
                time.sleep(0.05)
            for calls in blocks.values():  # every module compiled in every worker
                client.execute_block(calls[: workers * 4], dry_run=True)
            results = {}
            meter = CpuMeter(processes) if cpu else None
            for name, calls in blocks.items():
                best, result = float("inf"), None
                before_counters = client.stats()["counters"]
                spent = None if meter is None else meter.sample()
                for _ in range(repeat):
                    start = time.perf_counter()
                    result = client.execute_block(calls, dry_run=True, timeout=600.0)
                    best = min(best, time.perf_counter() - start)
                after = None if meter is None else meter.sample()
                assert result is not None
                results[name] = (best, result)
                report(workers, name, before_counters, client.stats()["counters"], repeat)
                if spent is not None and after is not None:
                    print("    CPU per block: " + ", ".join(
                        f"{part} {(after[part] - spent[part]) / repeat * 1000:.0f} ms" for part in after),
                        flush=True)
            return results
    finally:
        stop_workers(processes)
        thread.stop()


COUNTERS = {"block_tasks": "tasks", "block_aborts": "aborts", "block_suspensions": "suspensions",
            "callbacks": "callbacks", "block_prefetched": "prefetched",
            "blocks_serial": "serial after aborts", "blocks_serial_predicted": "serial predicted"}


def report(workers: int, name: str, before: dict[str, int], after: dict[str, int], repeat: int) -> None:
    """One line of what the broker did for a block (per run: the counters' growth over ``repeat`` runs)."""
    done = ", ".join(f"{(after.get(c, 0) - before.get(c, 0)) / repeat:.4g} {what}"
                     for c, what in COUNTERS.items())
    print(f"  {workers} workers, {name}: {done}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="transfers per block (default 1000)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4],
                        help="pool sizes (default 1 2 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement, best counts (default 3)")
    parser.add_argument("--cpu", action="store_true",
                        help="also print the CPU one block took in the client, broker and workers")
    parser.add_argument("--rounds", type=int, default=3000,
                        help="mixing rounds of each heavy call (default 3000; 0 leaves the heavy block out)")
    args = parser.parse_args(argv)
    tune_allocator()  # as in a worker process: the serial baseline gets the same allocator
    wasm.prepare_process()  # and the same recursion limit
    codes = [TOKEN.read_bytes(), WORK.read_bytes()]
    token_id, work_id = (p.code_id(code) for code in codes)
    modules = {p.code_id(code): load(code) for code in codes}  # compiled as a worker compiles
    before = genesis(token_id, max(CONTENTION.values()))
    tree = StateTree.from_items((c, k, v) for (c, k), v in before.items())
    labels = {level: f"{level} ({accounts:,} accounts)" for level, accounts in CONTENTION.items()}
    blocks = {f"{level}, {mode}": transfers(token_id, accounts, args.calls, seed=7, declare=declare)
              for level, accounts in CONTENTION.items() for mode, declare in MODES.items()}
    if args.rounds:
        labels["heavy"] = f"low, {args.rounds:,}-round calls"
        blocks["heavy, declared access"] = moves(work_id, CONTENTION["low"], args.calls, 7, args.rounds)
    rows: dict[str, dict[str, float]] = {name: {} for name in blocks}
    expected: dict[str, BlockResult] = {}
    for name, calls in blocks.items():  # access sets do not matter serially: one baseline per level
        level = name.split(",")[0]
        if level not in expected:
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                expected[level] = serial(modules, calls, before, tree)
                best = min(best, time.perf_counter() - start)
            serial_rate = args.calls / best
        rows[name]["serial"] = serial_rate
    for workers in args.workers:
        runs = pool_run(workers, codes, blocks, before, args.repeat, args.cpu)
        for name, (seconds, result) in runs.items():
            want = expected[name.split(",")[0]]
            if result.receipts != want.receipts or result.state_root != want.state_root:
                raise SystemExit(f"the pool's block ({name}) differs from serial execution")
            rows[name][f"{workers} workers"] = args.calls / seconds
    columns = ["serial", *(f"{w} workers" for w in args.workers)]
    print(f"\nblock of {args.calls} calls, calls/s (best of {args.repeat}); results equal to serial: yes")
    print(f"| contention | mode | {' | '.join(columns)} |")
    print(f"|---|---|{'---|' * len(columns)}")
    for name, row in rows.items():
        level, mode = name.split(", ")
        print(f"| {labels[level]} | {mode} | {' | '.join(f'{row[c]:,.0f}' for c in columns)} |")

if __name__ == "__main__":
    main()
