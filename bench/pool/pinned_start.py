"""The first call of a module on a freshly started worker process: pinned against not pinned.

A broker (in this process, over a SQLite file in a temporary directory)
holds two copies of each module (the same code under two code ids): one
pinned, one not. Each round starts one fresh worker process, waits until it
has registered and loaded the pinned modules (that time is printed too),
then times, through a client, the first call of each copy on it, in
alternating order. A pinned module's first call finds it compiled in
memory; the other copy's is fetched from the broker, decoded, checked and
compiled first. Medians over the rounds, side by side in one run.

Modules: the token contract (examples/token.wasm, ``total_supply``) and the
Rust crypto library of the corpus (tests/corpus/rust/crypto.wasm, 159 KiB,
``in_ptr``).

Run from the repository root: ``.venv/bin/python bench/pool/pinned_start.py``
(``--rounds N``, default 5). Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from wasmpool.client import Client  # noqa: E402
from wasmpool.embed import Broker, BrokerThread  # noqa: E402
from wasmpool.worker.config import WorkerConfig  # noqa: E402
from wasmpool.worker.supervisor import start_workers, stop_workers  # noqa: E402

MODULES = (
    ("token", ROOT / "examples" / "token.wasm", "total_supply"),
    ("crypto (159 KiB)", ROOT / "tests" / "corpus" / "rust" / "crypto.wasm", "in_ptr"),
)
LOOPBACK = "tcp://127.0.0.1:*"
WAIT = 60.0  # seconds a fresh worker may take to register and load the pinned modules


def copy(module: bytes, tag: str) -> bytes:
    """``module`` plus a custom section named ``tag``: the same code under another code id."""
    name = tag.encode()
    payload = bytes([len(name)]) + name
    return module + bytes([0, len(payload)]) + payload


def wait_for(client: Client, ready: str) -> float:
    """Seconds until the broker's stats say one worker is registered (``ready="registered"``) or has
    loaded every pinned module (``"loaded"``), or that none is (``"gone"``)."""
    started = time.monotonic()
    while time.monotonic() - started < WAIT:
        stats = client.stats()
        workers = stats["worker_list"]
        if ready == "gone" and not workers:
            return time.monotonic() - started
        if ready == "loaded" and len(workers) == 1 and not workers[0]["pinned_missing"]:
            return time.monotonic() - started
        time.sleep(0.005)
    raise TimeoutError(f"no worker {ready} within {WAIT}s: {client.stats()}")


def timed_call(client: Client, code_id: str, function: str) -> float:
    started = time.perf_counter()
    result = client.call(code_id, function)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(f"{function} failed: {result.status} {result.error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh worker processes (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(f"sqlite:{Path(tmp) / 'state.db'}", LOOPBACK, LOOPBACK)
        with BrokerThread(broker) as thread, Client(thread.frontend, timeout=WAIT) as client:
            pairs = []
            for name, path, function in MODULES:
                module = path.read_bytes()
                pinned, plain = client.deploy(copy(module, "pinned")), client.deploy(copy(module, "plain"))
                client.pin(pinned)
                pairs.append((name, function, str(pinned), str(plain)))
            times: dict[tuple[str, bool], list[float]] = {}
            loads = []
            for round_ in range(args.rounds):
                workers = start_workers(WorkerConfig(endpoint=thread.backend), 1)
                try:
                    loads.append(wait_for(client, "loaded"))
                    for name, function, pinned, plain in pairs:
                        order = [(True, pinned), (False, plain)]
                        for is_pinned, code_id in order if round_ % 2 == 0 else order[::-1]:
                            times.setdefault((name, is_pinned), []).append(
                                timed_call(client, code_id, function))
                finally:
                    stop_workers(workers)
                wait_for(client, "gone")
    print(f"first call on a freshly started worker, median of {args.rounds} fresh worker processes")
    print(f"{'module':<18} {'pinned':>10} {'not pinned':>12} {'ratio':>8}")
    for name, _, _, _ in pairs:
        hot, cold = statistics.median(times[name, True]), statistics.median(times[name, False])
        print(f"{name:<18} {hot * 1000:>8.2f}ms {cold * 1000:>10.2f}ms {cold / hot:>7.1f}x")
    print(f"a fresh worker registered and loaded both pinned modules in {statistics.median(loads):.2f} s "
          "(median; counted from its start)")


if __name__ == "__main__":
    main()
