"""Gas and time of the Rust token's holders query (examples/rust/token.rs), by page size.

One broker over a scratch SQLite file and one worker process; the token is
minted to ``--holders`` accounts, then each page size is queried
``--repeats`` times (the median time is printed) beside a ``balance``
query, so the figures are comparable within the run:

    python bench/pool/holders_cost.py [--holders 300] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from single import single_worker_pool  # bench/pool/single.py, beside this script

from wasmpool import wasm
from wasmpool.client import Client, Result

TOKEN = Path(__file__).resolve().parents[2] / "examples" / "rust" / "token.wasm"
OWNER = {"caller": b"owner"}
SIZES = (1, 10, 100)


def median_query(client: Client, code_id: str, function: str, text: bytes,
                 repeats: int) -> tuple[float, Result]:
    """The median seconds of ``repeats`` queries, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = client.query(code_id, function, input=text)
        times.append(time.perf_counter() - start)
        assert result.ok, result.error
    assert result is not None
    return statistics.median(times), result


def measure(client: Client, holders: int, repeats: int) -> None:
    code_id = client.deploy(TOKEN.read_bytes())
    assert client.call(code_id, "instantiate", context=OWNER).ok
    empty, result = median_query(client, code_id, "holders", b"100", repeats)
    print(f"  holders 100, no holders:  {result.gas_used:9,} gas {empty * 1e3:7.2f} ms")
    for i in range(holders):
        assert client.call(code_id, "mint", input=b"acct%06d 1000" % i, context=OWNER).ok
    seconds, result = median_query(client, code_id, "balance", b"acct000001", repeats)
    print(f"  balance:                  {result.gas_used:9,} gas {seconds * 1e3:7.2f} ms")
    for size in SIZES:
        seconds, result = median_query(client, code_id, "holders", b"%d" % size, repeats)
        print(f"  holders {size:3} (a full page): {result.gas_used:9,} gas {seconds * 1e3:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holders", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    wasm.prepare_process()
    with single_worker_pool() as client:
        print(f"{args.holders} holders, one worker, medians of {args.repeats} queries")
        measure(client, args.holders, args.repeats)

if __name__ == "__main__":
    main()
