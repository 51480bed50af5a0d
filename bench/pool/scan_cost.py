"""What one ``state_next`` entry costs through a real pool, and the gas prices that follow from it.

In one run, against an embedded broker over SQLite and one worker process
(real sockets), with the scanner test contract (tests/pool/fixtures):

- a query scanning an empty range (the fixed cost of a call);
- a query scanning N small entries, and one scanning N entries with 1 KiB
  values (keys and values not copied into the contract: caps 0), whose
  differences give µs per entry and per byte, pages included;
- a query spinning an ordinary wasm loop, which gives µs per gas of
  ordinary code on this machine at this moment;

and prints the price in gas of an entry and of a byte at that rate, next to
the prices the host charges (``worker.iteration.IterationGas``).

Run from the repository root: ``.venv/bin/python bench/pool/scan_cost.py``.
Not a test: the numbers depend on the machine (see bench/pool/README.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from single import single_worker_pool  # bench/pool/single.py, beside this script

from wasmpool import wasm
from wasmpool.broker.config import BrokerConfig
from wasmpool.client import Client, Result
from wasmpool.worker.iteration import IterationGas, page_sizes

REPO = Path(__file__).resolve().parents[2]
SCANNER = REPO / "tests" / "pool" / "fixtures" / "scanner.wasm"
GAS = 2_000_000_000


def scan_op(start: bytes, end: bytes) -> bytes:
    """The scanner's S op, ascending, caps 0 (nothing copied into the contract)."""
    return b"S\x00" + (0).to_bytes(2, "little") * 2 + bytes([len(start)]) + start + bytes([len(end)]) + end


def put_op(key: bytes, value: bytes) -> bytes:
    return b"P" + bytes([len(key)]) + key + len(value).to_bytes(2, "little") + value


def wait_op(turns: int) -> bytes:
    return b"W" + turns.to_bytes(2, "little")


def timed(run: Callable[[], Result], repeats: int) -> tuple[float, Result]:
    """The median seconds of ``repeats`` runs, and the last result."""
    times = []
    result = run()  # warm: the module compiled and cached in the worker
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        assert result.ok, result.error
    return statistics.median(times), result


def fill(client: Client, code_id: str, prefix: bytes, count: int, value: bytes) -> None:
    """Store ``count`` keys under ``prefix`` in calls of at most 200 writes."""
    for first in range(0, count, 200):
        ops = b"".join(put_op(prefix + b"%06d" % i, value) for i in range(first, min(count, first + 200)))
        result = client.call(code_id, "run", input=ops, gas_limit=GAS)
        assert result.ok, result.error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=4000)
    parser.add_argument("--big", type=int, default=1024, help="bytes of each big value")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    wasm.prepare_process()
    with single_worker_pool(BrokerConfig(query_gas=GAS)) as client:  # the queries spin past the default cap
        code_id = str(client.deploy(SCANNER.read_bytes()))
        fill(client, code_id, b"s/", args.entries, b"v" * 8)
        fill(client, code_id, b"b/", args.entries, b"v" * args.big)

        def query(ops: bytes) -> Callable[[], Result]:
            return lambda: client.query(code_id, "run", input=ops, gas_limit=GAS)

        idle, still = timed(query(b""), args.repeats)
        empty, _ = timed(query(scan_op(b"z", b"z")), args.repeats)
        small, _ = timed(query(scan_op(b"s/", b"s0")), args.repeats)
        big, _ = timed(query(scan_op(b"b/", b"b0")), args.repeats)
        spin, spun = timed(query(wait_op(2000)), args.repeats)
    per_gas = (spin - idle) / (spun.gas_used - still.gas_used)
    report(args.entries, args.big, args.repeats, idle, empty, small, big, per_gas)


def report(n: int, size: int, repeats: int, idle: float, empty: float, small: float, big: float,
           per_gas: float) -> None:
    """Print the figures and the gas they are worth at ``per_gas`` seconds per gas of ordinary code."""
    us_gas = per_gas * 1e6
    open_page = (empty - idle) * 1e6
    per_entry = (small - empty) / n * 1e6
    per_byte = (big - small) / (n * (size - 8)) * 1e6
    print(f"{n} entries per scan, in {len(page_sizes(n))} pages (scan CALLBACKs) of {page_sizes(n)[:6]}...; "
          f"medians of {repeats} calls")
    print(f"  a call doing nothing:               {idle * 1e3:8.2f} ms")
    print(f"  a call scanning an empty range:     {empty * 1e3:8.2f} ms -> {open_page:7.1f} us "
          f"({open_page / us_gas:,.0f} gas) for state_scan, one page, one state_next")
    print(f"  a call scanning {n} small entries: {small * 1e3:8.2f} ms -> {per_entry:7.2f} us "
          f"({per_entry / us_gas:,.0f} gas) per entry")
    print(f"  a call scanning {n} {size}-byte values: {big * 1e3:8.2f} ms -> {per_byte * 1e3:7.2f} ns "
          f"({per_byte / us_gas:.2f} gas) per value byte")
    print(f"  ordinary code: {us_gas * 1e3:.2f} ns per gas")
    print(f"  charged: state_scan {int(IterationGas.STATE_SCAN)}, state_next {int(IterationGas.STATE_NEXT)}, "
          f"{int(IterationGas.SCANNED_BYTE)} per key and value byte")


if __name__ == "__main__":
    main()
