"""What a call between contracts costs through a real pool, in µs and gas.

In one run, against an embedded broker over SQLite and one worker process
(real sockets), with the test contracts ``ledger`` and ``proxy``
(tests/pool/fixtures), rounds of three calls, interleaved so that drift
touches all three alike:

- **direct**: a ledger ``move`` (two reads, two writes) called as its own job;
- **empty proxy**: a proxy ``run`` with no calls to make (the caller's own cost);
- **through a proxy**: a proxy ``run`` whose one call is the same ``move``.

The cost of the call is *through a proxy* less *empty proxy*: what adding
the call to a job costs, next to *direct*, what the same work costs as a job
of its own. Medians of ``--repeats`` rounds, the state CALLBACKs each call
made (from the broker's counters) and each call's gas are printed.

Run from the repository root: ``.venv/bin/python bench/pool/call_cost.py``.
Not a test: the numbers depend on the machine (see bench/pool/README.md).
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time
from collections.abc import Callable
from pathlib import Path

from single import single_worker_pool  # bench/pool/single.py, beside this script

from wasmpool import wasm
from wasmpool.client import Client, Result

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "pool" / "fixtures"
GAS = 10_000_000


def move_input(source: int, to: int, amount: int) -> bytes:
    """The ledger's ``move`` input (see ledger.wat)."""
    return bytes([source, to]) + struct.pack("<q", amount)


def proxy_record(address: str, function: str, input: bytes) -> bytes:
    """One call of a proxy's input, all gas left to it, no return data copied (see proxy.wat)."""
    name = function.encode()
    return (bytes.fromhex(address) + struct.pack("<I", len(name)) + name
            + struct.pack("<QII", 0, 0, len(input)) + input)


def contract(client: Client, name: str) -> str:
    """A fresh instance of a fixture module."""
    code_id = client.deploy((FIXTURES / f"{name}.wasm").read_bytes())
    made = client.instantiate(code_id, salt=name.encode() + b"%f" % time.time(), caller=b"bench")
    assert made.ok, made.result.error
    return made.address


def callbacks(client: Client) -> int:
    return int(client.stats()["counters"].get("callbacks", 0))


def measure(client: Client, runs: dict[str, Callable[[], Result]], repeats: int
            ) -> dict[str, tuple[float, int, float]]:
    """Per run: median seconds, gas used, and CALLBACKs per call, over ``repeats`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    gas: dict[str, int] = {}
    for run in runs.values():  # warm: modules compiled and cached in the worker
        assert run().ok
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            result = run()
            times[name].append(time.perf_counter() - start)
            assert result.ok, result.error
            gas[name] = result.gas_used
    made = {}
    for name, run in runs.items():
        before = callbacks(client)
        run()
        made[name] = callbacks(client) - before
    return {name: (statistics.median(times[name]), gas[name], made[name]) for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    wasm.prepare_process()
    with single_worker_pool() as client:
        ledger, proxy = contract(client, "ledger"), contract(client, "proxy")
        move = move_input(1, 2, 1)
        through = proxy_record(ledger, "move", move)
        runs: dict[str, Callable[[], Result]] = {
            "direct": lambda: client.call(ledger, "move", input=move, gas_limit=GAS),
            "empty proxy": lambda: client.call(proxy, "run", input=b"", gas_limit=GAS),
            "through a proxy": lambda: client.call(proxy, "run", input=through, gas_limit=GAS),
        }
        figures = measure(client, runs, args.repeats)
    print(f"one worker, SQLite, medians of {args.repeats} interleaved rounds")
    for name, (seconds, gas, made) in figures.items():
        print(f"  {name:16} {seconds * 1e6:8.0f} µs  {gas:7,} gas  {made} CALLBACKs")
    (direct, direct_gas, _), (empty, empty_gas, _), (proxied, proxied_gas, _) = figures.values()
    call_us, call_gas = (proxied - empty) * 1e6, proxied_gas - empty_gas
    print(f"the call: {call_us:.0f} µs and {call_gas:,} gas added to the caller's job; the same move as a "
          f"job of its own: {direct * 1e6:.0f} µs, {direct_gas:,} gas (ratio {call_us / (direct * 1e6):.2f}, "
          f"gas {call_gas / direct_gas:.2f})")


if __name__ == "__main__":
    main()
