"""CPU time per call in each process of a pool: broker, worker, client, side by side with another tree.

Wall time per call on a small machine says little about where the work is:
the broker, the worker and the client share the cores, and a send that
wakes another process may give it the core. This script reads each
process's own CPU time (``/proc/PID/stat`` for the broker and the worker,
``time.process_time`` for the client) around ``--calls`` calls of the token
contract's ``total_supply`` (one state read, learned and sent ahead), made
one at a time by a blocking client, after ``--warm`` calls not counted.

For each tree (this one, and ``--baseline TREE`` if given: another source
tree of wasmpool, e.g. ``git worktree add /tmp/base <rev>``), a broker
process (``memory:`` state) and one worker process are started fresh each
round; rounds alternate between the trees so that machine noise hits both
alike. Medians over ``--rounds`` are printed in µs per call, with the ratio
baseline / this tree.

Run from the repository root: ``.venv/bin/python bench/pool/process_cpu.py
[--baseline TREE] [--rounds 5] [--calls 3000]``. Linux only (``/proc``);
not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cold_start import MODULES, WAIT, overlay, start_broker, start_worker, wait_workers  # beside this script

from wasmpool.client import Client

PROCESSES = ("broker", "worker", "client")
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def one_round(site: Path, calls: int, warm: int) -> dict[str, float]:
    """µs of CPU per call in each process, and the wall time per call, for a fresh pool of ``site``'s tree."""
    broker, frontend, backend = start_broker(site)
    client = Client(frontend, timeout=WAIT)
    worker = None
    try:
        code, export = MODULES["token (2.7 KiB)"]
        code_id = client.deploy(code)
        worker = start_worker(site, backend, None)
        wait_workers(client, 1)
        for _ in range(warm):
            client.call(code_id, export)
        before = process_cpu(broker.pid), process_cpu(worker.pid), time.process_time()
        started = time.perf_counter()
        for _ in range(calls):
            result = client.call(code_id, export)
            if not result.ok:
                raise RuntimeError(f"{export} failed: {result}")
        wall = time.perf_counter() - started
        after = process_cpu(broker.pid), process_cpu(worker.pid), time.process_time()
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(WAIT)
        client.close()
        broker.terminate()
        broker.wait(WAIT)
    figures = {name: (end - start) * 1e6 / calls
               for name, start, end in zip(PROCESSES, before, after, strict=True)}
    figures["wall"] = wall * 1e6 / calls
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another wasmpool source tree to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warm", type=int, default=200, help="calls made first, not counted")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"this tree": overlay(root, Path(scratch) / "this")}
        if args.baseline is not None:
            trees["baseline"] = overlay(args.baseline.resolve(), Path(scratch) / "baseline")
        samples: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
        for _ in range(args.rounds):
            for tree, site in trees.items():
                samples[tree].append(one_round(site, args.calls, args.warm))
    medians = {tree: {key: statistics.median(s[key] for s in rows) for key in (*PROCESSES, "wall")}
               for tree, rows in samples.items()}
    print(f"µs per call of total_supply, median of {args.rounds} rounds x {args.calls} calls")
    print(f"{'tree':<12}" + "".join(f"{key:>10}" for key in (*PROCESSES, "wall")))
    for tree, figures in medians.items():
        print(f"{tree:<12}" + "".join(f"{figures[key]:>10.0f}" for key in (*PROCESSES, "wall")))
    if "baseline" in medians:
        this, base = medians["this tree"], medians["baseline"]
        ratios = "".join(f"{base[key] / this[key]:>9.2f}x" for key in (*PROCESSES, "wall"))
        print(f"{'base/this':<12}{ratios}")


if __name__ == "__main__":
    sys.exit(main())
