"""What naming a contract by its address costs, against a legacy call naming the code id.

A call by address makes the broker read the contract's record (one store
read) to find the code it runs and its namespace; the job then carries the
20-byte address. This runs the same counter export (``bump`` of
``tests/pool/fixtures/instances.wasm``: one read, one write) through a real
broker over SQLite and one worker, alternating rounds of calls by code id
and by address, and prints the median latency of each and their ratio; then
the broker's record lookup alone (``contracts.require`` on the same store).

Run from the repository root: ``.venv/bin/python bench/pool/instance_cost.py``.
Not a test: figures depend on the machine (and on how busy it is).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from wasmpool.broker import contracts  # noqa: E402
from wasmpool.broker.state import SQLiteStore  # noqa: E402
from wasmpool.client import Client  # noqa: E402
from wasmpool.embed import Broker, BrokerThread  # noqa: E402
from wasmpool.worker.config import WorkerConfig  # noqa: E402
from wasmpool.worker.supervisor import start_workers, stop_workers  # noqa: E402

LOOPBACK = "tcp://127.0.0.1:*"
MODULE = ROOT / "tests" / "pool" / "fixtures" / "instances.wasm"


def round_of(client: Client, target: str, calls: int) -> list[float]:
    """Seconds per call of ``bump`` on ``target``, one figure per call."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        result = client.call(target, "bump")
        times.append(time.perf_counter() - start)
        assert result.ok, result.error
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind, alternating (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        db = f"{scratch}/state.db"
        thread = BrokerThread(Broker(f"sqlite:{db}", LOOPBACK, LOOPBACK)).start()
        workers = start_workers(WorkerConfig(endpoint=thread.backend), 1)
        try:
            with Client(thread.frontend) as client:
                deadline = time.monotonic() + 60
                while client.stats()["workers"] < 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                code = client.deploy(MODULE.read_bytes())
                address = client.instantiate(code, salt=b"bench", caller=b"bench").address
                round_of(client, code, 20)  # warm: the module is compiled and cached
                round_of(client, address, 20)
                legacy: list[float] = []
                by_address: list[float] = []
                for _ in range(args.rounds):
                    legacy += round_of(client, code, args.calls)
                    by_address += round_of(client, address, args.calls)
        finally:
            stop_workers(workers)
            thread.stop()
        store = SQLiteStore(db)
        lookups = 20_000
        lookup = min(timeit.repeat(lambda: contracts.require(store, address), number=lookups, repeat=5))
        store.close()
    old, new = statistics.median(legacy), statistics.median(by_address)
    print(f"call by code id (legacy): {old * 1e6:8.1f} us median of {len(legacy)}")
    print(f"call by address:          {new * 1e6:8.1f} us median of {len(by_address)}")
    print(f"ratio address / code id:  {new / old:8.3f}")
    print(f"record lookup alone:      {lookup / lookups * 1e6:8.2f} us (SQLite, best of 5 x {lookups})")


if __name__ == "__main__":
    main()
