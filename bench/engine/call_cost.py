"""call_contract's base price: µs of one nested call of a trivial callee, against ordinary code's µs per gas.

A call between contracts costs the caller what the callee used (its module's
load price, its instantiation's setup gas, its code) plus the base price
``HostGas.CALL_CONTRACT`` and the per-byte copies. The base price pays for
what none of those covers: the frame, the journal's checkpoint, the host's
re-entry into the engine, the export lookup and the release of the callee's
instance. This benchmark runs, through ``execute()`` with the pool's
``Host`` and a module source over modules compiled once (a warm cache, as a
worker has), ``tests/pool/fixtures/proxy.wasm`` making ``--calls`` calls of
``callee.wasm``'s ``nothing`` in one job, against the same job whose calls
are all refused at once (each names the caller itself: reentrancy, code 4,
no callee), both best of ``--repeat``. Their difference per call, less the
gas the callee itself is charged, is the work the base price must cover,
converted at the ns per gas of a counting loop (``events.wasm``'s
``gas_around``) measured right beside them. The three are measured together
``--rounds`` times, interleaved (a shared machine's load moves them
together); the figures are the median and range over the rounds.

The code lookup (a registry read, a round trip to the broker for the first
call to an address in a transaction, then cached) is not in this figure: it
is priced like ``get_state``'s read, inside the base price (see docs/abi.md).

Run: ``python bench/engine/call_cost.py [--rounds 7] [--repeat 5] [--calls 50] [--jobs 20]``
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import wasmpool.wasm as wasm
from wasmpool.wire import prices
from wasmpool.wire import protocol as p
from wasmpool.worker.execute import Runtime, execute
from wasmpool.worker.host import CallState, Host, HostGas
from wasmpool.worker.modules import Loaded, load

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "pool" / "fixtures"
GAS = 1_000_000_000
CALLER, CALLEE = b"\x0a" * 20, b"\x0b" * 20


class Registry:
    """Committed state: only the registry's records of the two contracts."""

    def __init__(self, records: dict[bytes, bytes]) -> None:
        self.records = records

    def get(self, key: bytes) -> bytes | None:
        return None

    def get_in(self, space: str, key: bytes) -> bytes | None:
        return self.records.get(key) if space == p.REGISTRY_SPACE else None


def record(where: bytes, function: bytes) -> bytes:
    return where + struct.pack("<I", len(function)) + function + struct.pack("<QII", 0, 0, 0)


def timed_jobs(body: dict[str, Any], reader: Registry, modules: Any, runtime: Runtime, jobs: int,
               repeat: int) -> tuple[float, int]:
    """Best seconds per job over ``repeat`` runs of ``jobs`` jobs, and the gas one job used."""
    best, gas = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(jobs):
            result = execute(body, reader, modules, runtime)
        best = min(best, (time.perf_counter() - start) / jobs)
        assert result.status == "ok", result.error
        gas = result.gas_used
    return best, gas


def loop_ns_per_gas(repeat: int) -> float:
    """ns per gas of ordinary code: ``gas_around`` of events.wasm, 200,000 turns less 1."""
    module = wasm.compile(wasm.decode((FIXTURES / "events.wasm").read_bytes()), metered=True,
                          canonical_nans=True)
    host = Host()

    def once(turns: int) -> tuple[float, int]:
        best, gas = float("inf"), 0
        for _ in range(repeat):
            host.begin(CallState(reader=Registry({})))
            start = time.perf_counter()
            instance = wasm.instantiate(module, imports=host.imports(), gas_limit=GAS, canonical_nans=True)
            instance.exports["gas_around"](turns)
            best = min(best, time.perf_counter() - start)
            gas = instance.gas_used
            host.end()
        return best, gas

    long_s, long_gas = once(200_000)
    short_s, short_gas = once(1)
    return (long_s - short_s) * 1e9 / (long_gas - short_gas)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50, help="calls per job")
    parser.add_argument("--jobs", type=int, default=20, help="jobs per timed run")
    options = parser.parse_args(argv)
    wasm.prepare_process()
    proxy, callee = (load((FIXTURES / name).read_bytes()) for name in ("proxy.wasm", "callee.wasm"))
    by_id: dict[str, Loaded] = {proxy.key.code_id: proxy, callee.key.code_id: callee}
    reader = Registry({CALLER: p.pack({"code_id": proxy.key.code_id}),
                       CALLEE: p.pack({"code_id": callee.key.code_id})})

    def modules(code_id: str, index: int | None, called: bool = False) -> Loaded:
        return by_id[code_id]

    runtime = Runtime.of(Host())
    job = {"code_id": proxy.key.code_id, "address": CALLER, "function": "run", "args": [], "context": {},
           "gas_limit": GAS, "timeout": 60.0, "readonly": False}
    calls = options.calls
    called_job = dict(job, input=record(CALLEE, b"nothing") * calls)
    refused_job = dict(job, input=record(CALLER, b"nothing") * calls)
    rounds: list[tuple[float, float, float]] = []  # (ns per gas, µs per call, gas left uncharged)
    for _ in range(options.rounds):
        timed = (reader, modules, runtime, options.jobs, options.repeat)
        called_s, called_gas = timed_jobs(called_job, *timed)
        refused_s, refused_gas = timed_jobs(refused_job, *timed)
        ns_per_gas = loop_ns_per_gas(options.repeat)
        per_call_us = (called_s - refused_s) * 1e6 / calls
        callee_gas = (called_gas - refused_gas) / calls  # its load price, setup gas and code
        rounds.append((ns_per_gas, per_call_us, per_call_us * 1000 / ns_per_gas - callee_gas))
    ns, us, left = (sorted(column) for column in zip(*rounds, strict=True))
    print(f"{options.rounds} rounds, median [range]:")
    print(f"ordinary code: {statistics.median(ns):.2f} ns per gas [{ns[0]:.2f}-{ns[-1]:.2f}] (gas_around)")
    print(f"one nested call of a trivial callee beyond a refused call: {statistics.median(us):.1f} µs "
          f"[{us[0]:.1f}-{us[-1]:.1f}]; the callee is charged {callee_gas:,.0f} "
          f"(load {prices.load_gas(callee.size):,} + setup and code)")
    print(f"left for the base price: {statistics.median(left):,.0f} gas [{left[0]:,.0f}-{left[-1]:,.0f}] "
          f"(CALL_CONTRACT is {int(HostGas.CALL_CONTRACT):,})")

if __name__ == "__main__":
    main()
