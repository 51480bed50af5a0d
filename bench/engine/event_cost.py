"""emit_event against log: µs per call and per byte on the metered engine with the pool's Host, and the gas
they imply at the µs per gas of ordinary code measured in the same run.

``emit_event`` is priced like ``log`` (a base price and a price per byte), and
must cost at least as much per byte: it also parses the attributes and
carries them as a structure. This benchmark calls, through
``tests/pool/fixtures/events.wasm``:

- ``emit`` with an empty event and with 16 KiB of attributes (one pair, and
  256 pairs of 64 bytes), and ``log_input`` with empty and 16 KiB input: each
  best of ``--repeat`` runs of ``--calls`` calls on one instance per call,
  as the pool does;
- ``gas_around(n)`` (a counting loop), whose time over its gas used is the
  reference ns per gas of ordinary code.

Run: ``python bench/engine/event_cost.py [--repeat 5] [--calls 200]``
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import wasmpool.wasm as wasm
from wasmpool.worker.host import CallState, Host, HostGas

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "pool" / "fixtures" / "events.wasm"
GAS = 1_000_000_000
SIZE = 16 * 1024


class NoState:
    def get(self, key: bytes) -> bytes | None:
        return None


def attrs(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    return b"".join(struct.pack("<I", len(k)) + k + struct.pack("<I", len(v)) + v for k, v in pairs)


def event(raw: bytes) -> bytes:
    return struct.pack("<I", 1) + b"t" + raw


def timed(module: wasm.Module, host: Host, function: str, args: tuple[int, ...], data: bytes, calls: int,
          repeat: int) -> tuple[float, int]:
    """Best seconds per call over ``repeat`` runs, and the gas one call used."""
    best, gas = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            host.begin(CallState(reader=NoState(), input=data))
            instance = wasm.instantiate(module, imports=host.imports(), gas_limit=GAS, canonical_nans=True)
            instance.exports[function](*args)
            host.end()
        best = min(best, (time.perf_counter() - start) / calls)
        gas = instance.gas_used
    return best, gas


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    options = parser.parse_args(argv)
    wasm.prepare_process()
    module = wasm.compile(wasm.decode(FIXTURE.read_bytes()), metered=True, canonical_nans=True)
    host = Host()
    run = lambda function, data, *args: timed(module, host, function, args, data,  # noqa: E731
                                              options.calls, options.repeat)
    loop_s, loop_gas = run("gas_around", b"", 200_000)
    base_s, base_gas = run("gas_around", b"", 1)
    ns_per_gas = (loop_s - base_s) * 1e9 / (loop_gas - base_gas)
    print(f"ordinary code: {ns_per_gas:.2f} ns per gas (gas_around, 200,000 turns)")
    cases = {
        "log": (("log_input", b""), ("log_input", bytes(SIZE))),
        "emit_event, one pair": (("emit", event(attrs([(b"k", b"")]))),
                                 ("emit", event(attrs([(b"k", bytes(SIZE))])))),
        "emit_event, 64 pairs": (("emit", event(attrs([(b"k", b"")]))),
                                  ("emit", event(attrs([(bytes(128), bytes(128))] * 64)))),
    }
    for name, ((f0, d0), (f1, d1)) in cases.items():
        small_s, small_gas = run(f0, d0)
        large_s, large_gas = run(f1, d1)
        size = len(d1) - len(d0)
        ns_byte = (large_s - small_s) * 1e9 / size
        charged = (large_gas - small_gas) / size
        print(f"{name:24s} {small_s * 1e6:8.1f} µs empty, {ns_byte:6.2f} ns per byte "
              f"({ns_byte / ns_per_gas:5.2f} gas at the reference; charged {charged:.2f}"
              f" per input byte, of which {2 * HostGas.BYTE} copying)")


if __name__ == "__main__":
    main()
